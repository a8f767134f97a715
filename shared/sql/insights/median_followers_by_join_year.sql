-- The exact median follower count of posters per join year, 2015 to 2020.
SELECT join_year,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(follower_count AS DOUBLE)) AS median_follower_count
FROM pin_user
WHERE join_year BETWEEN 2015 AND 2020
GROUP BY join_year
