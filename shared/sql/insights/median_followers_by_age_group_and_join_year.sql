-- The exact median follower count per age group and join year (2015 to 2020).
SELECT age_group, join_year,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(follower_count AS DOUBLE)) AS median_follower_count
FROM pin_user
WHERE age_group IS NOT NULL AND join_year BETWEEN 2015 AND 2020
GROUP BY age_group, join_year
