-- Posts per (year of the geo timestamp, category), years 2018 to 2022.
SELECT CAST(date_part('year', "timestamp") AS INT) AS post_year, category, COUNT(*) AS category_count
FROM pin_geo
WHERE date_part('year', "timestamp") BETWEEN 2018 AND 2022
GROUP BY CAST(date_part('year', "timestamp") AS INT), category
