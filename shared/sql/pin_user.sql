-- The posts with who posted them: batch pins inner-joined to batch user rows on ind, with the
-- poster's age group (18-24, 25-35, 36-50, 50+; under 18 or unknown: none) and join year.
SELECT
    p.category,
    p.follower_count,
    CASE
        WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
        WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
        WHEN u.age BETWEEN 36 AND 50 THEN '36-50'
        WHEN u.age > 50 THEN '50+'
    END AS age_group,
    CAST(EXTRACT(YEAR FROM u.date_joined) AS INTEGER) AS join_year
FROM batch_pin p
JOIN batch_user u ON p.ind = u.ind
