-- The exact median follower count per age group and join year (2015 to 2020): the middle value or
-- the mean of the two middle values, nulls ignored (see median_followers_by_age_group.sql).
SELECT age_group, join_year,
       AVG(CASE WHEN 2 * upto >= counted AND 2 * (upto - n + 1) <= counted + 2
                THEN CAST(follower_count AS DOUBLE) END) AS median_follower_count
FROM (
    SELECT age_group, join_year, follower_count, n,
           SUM(n) OVER (PARTITION BY age_group, join_year ORDER BY follower_count ASC NULLS LAST
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
           SUM(CASE WHEN follower_count IS NOT NULL THEN n END) OVER (PARTITION BY age_group, join_year) AS counted
    FROM (
        SELECT age_group, join_year, follower_count, COUNT(*) AS n
        FROM pin_user
        WHERE age_group IS NOT NULL AND join_year BETWEEN 2015 AND 2020
        GROUP BY age_group, join_year, follower_count
    ) tallied
) ranked
GROUP BY age_group, join_year
