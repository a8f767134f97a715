-- The exact median follower count per age group: the middle value, or the mean of the two middle
-- values (percentile_cont(0.5), which Trino lacks), nulls ignored. With n non-null counts ranked
-- 1..n (nulls after them), the middle ranks are those with n <= 2 * rank <= n + 2.
SELECT age_group,
       AVG(CASE WHEN 2 * rank_in_group BETWEEN counted AND counted + 2 THEN follower_count END) AS median_follower_count
FROM (
    SELECT age_group,
           CAST(follower_count AS DOUBLE) AS follower_count,
           ROW_NUMBER() OVER (PARTITION BY age_group ORDER BY follower_count ASC NULLS LAST) AS rank_in_group,
           COUNT(follower_count) OVER (PARTITION BY age_group) AS counted
    FROM pin_user
    WHERE age_group IS NOT NULL
) ranked
GROUP BY age_group
