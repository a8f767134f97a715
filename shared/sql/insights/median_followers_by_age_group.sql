-- The exact median follower count per age group: the middle value, or the mean of the two middle
-- values (percentile_cont(0.5), which Trino lacks), nulls ignored; a group whose counts are all null
-- has a null median. Each distinct count is tallied once per group (n rows), ranked by a running
-- sum: it holds ranks upto - n + 1 .. upto of the group's `counted` non-null counts (nulls sort
-- last), and the middle ranks are those r with counted <= 2r <= counted + 2. Tallying first makes
-- the window run over the distinct counts, not over every post.
SELECT age_group,
       AVG(CASE WHEN 2 * upto >= counted AND 2 * (upto - n + 1) <= counted + 2
                THEN CAST(follower_count AS DOUBLE) END) AS median_follower_count
FROM (
    SELECT age_group, follower_count, n,
           SUM(n) OVER (PARTITION BY age_group ORDER BY follower_count ASC NULLS LAST
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
           SUM(CASE WHEN follower_count IS NOT NULL THEN n END) OVER (PARTITION BY age_group) AS counted
    FROM (
        SELECT age_group, follower_count, COUNT(*) AS n
        FROM pin_user
        WHERE age_group IS NOT NULL
        GROUP BY age_group, follower_count
    ) tallied
) ranked
GROUP BY age_group
