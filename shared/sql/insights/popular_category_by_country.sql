-- Per country, the category with the most posts; tied categories all appear.
SELECT country, category, category_count
FROM (
    SELECT country, category, COUNT(*) AS category_count,
           MAX(COUNT(*)) OVER (PARTITION BY country) AS best
    FROM pin_geo
    GROUP BY country, category
) counted
WHERE category_count = best
