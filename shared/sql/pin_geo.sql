-- The posts with where and when they were posted: batch pins inner-joined to batch geo rows on ind.
SELECT g.country, g."timestamp", p.category, p.poster_name, p.follower_count
FROM batch_pin p
JOIN batch_geo g ON p.ind = g.ind
