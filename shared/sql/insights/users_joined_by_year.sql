-- Distinct users (by ind) who joined in each year from 2015 to 2020.
SELECT CAST(EXTRACT(YEAR FROM date_joined) AS INTEGER) AS join_year, COUNT(DISTINCT ind) AS number_users_joined
FROM batch_user
WHERE EXTRACT(YEAR FROM date_joined) BETWEEN 2015 AND 2020
GROUP BY CAST(EXTRACT(YEAR FROM date_joined) AS INTEGER)
