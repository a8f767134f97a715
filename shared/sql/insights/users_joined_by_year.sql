-- Distinct users (by ind) who joined in each year from 2015 to 2020.
SELECT CAST(date_part('year', date_joined) AS INT) AS join_year, COUNT(DISTINCT ind) AS number_users_joined
FROM batch_user
WHERE date_part('year', date_joined) BETWEEN 2015 AND 2020
GROUP BY CAST(date_part('year', date_joined) AS INT)
