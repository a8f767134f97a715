-- Per country, the poster with the most followers; tied posters all appear, each once.
SELECT DISTINCT country, poster_name, follower_count
FROM (
    SELECT country, poster_name, follower_count,
           MAX(follower_count) OVER (PARTITION BY country) AS best
    FROM pin_geo
    WHERE follower_count IS NOT NULL
) ranked
WHERE follower_count = best
