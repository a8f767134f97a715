-- Per age group, the most posted category; tied categories all appear.
SELECT age_group, category, category_count
FROM (
    SELECT age_group, category, COUNT(*) AS category_count,
           MAX(COUNT(*)) OVER (PARTITION BY age_group) AS best
    FROM pin_user
    WHERE age_group IS NOT NULL
    GROUP BY age_group, category
) counted
WHERE category_count = best
