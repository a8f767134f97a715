-- The exact median follower count of posters per join year, 2015 to 2020 (the middle value or the
-- mean of the two middle values, nulls ignored; see median_followers_by_age_group.sql).
SELECT join_year,
       AVG(CASE WHEN 2 * rank_in_group BETWEEN counted AND counted + 2 THEN follower_count END) AS median_follower_count
FROM (
    SELECT join_year,
           CAST(follower_count AS DOUBLE) AS follower_count,
           ROW_NUMBER() OVER (PARTITION BY join_year ORDER BY follower_count ASC NULLS LAST) AS rank_in_group,
           COUNT(follower_count) OVER (PARTITION BY join_year) AS counted
    FROM pin_user
    WHERE join_year BETWEEN 2015 AND 2020
) ranked
GROUP BY join_year
