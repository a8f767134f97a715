-- The exact median follower count per age group and join year (2015 to 2020): the middle value or
-- the mean of the two middle values, nulls ignored (see median_followers_by_age_group.sql).
SELECT age_group, join_year,
       AVG(CASE WHEN 2 * rank_in_group BETWEEN counted AND counted + 2 THEN follower_count END) AS median_follower_count
FROM (
    SELECT age_group, join_year,
           CAST(follower_count AS DOUBLE) AS follower_count,
           ROW_NUMBER() OVER (PARTITION BY age_group, join_year ORDER BY follower_count ASC NULLS LAST) AS rank_in_group,
           COUNT(follower_count) OVER (PARTITION BY age_group, join_year) AS counted
    FROM pin_user
    WHERE age_group IS NOT NULL AND join_year BETWEEN 2015 AND 2020
) ranked
GROUP BY age_group, join_year
