-- The country whose top poster has the most followers (ties: all), from top_user_by_country.
SELECT country, poster_name, follower_count
FROM top_user_by_country
WHERE follower_count = (SELECT MAX(follower_count) FROM top_user_by_country)
