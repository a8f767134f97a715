-- The exact median follower count per age group (linear interpolation; nulls ignored).
SELECT age_group,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(follower_count AS DOUBLE)) AS median_follower_count
FROM pin_user
WHERE age_group IS NOT NULL
GROUP BY age_group
