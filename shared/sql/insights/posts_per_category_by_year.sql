-- Posts per (year of the geo timestamp, category), years 2018 to 2022.
SELECT CAST(EXTRACT(YEAR FROM "timestamp") AS INTEGER) AS post_year, category, COUNT(*) AS category_count
FROM pin_geo
WHERE EXTRACT(YEAR FROM "timestamp") BETWEEN 2018 AND 2022
GROUP BY CAST(EXTRACT(YEAR FROM "timestamp") AS INTEGER), category
