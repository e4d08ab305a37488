-- id: short_term_key_use
-- title: Short-term Bedrock API key used
-- severity: low
-- description: Calls made with a short-term (presigned, up to 12 h) Bedrock API key, per signing principal. Short-term keys leave no creation event, so this is where they first show.
-- mitre: T1550.001
-- evidence: uses BY principal, account_id
-- Sums and first uses come from streamable group-bys, and keytrail streams the evidence
-- from `uses` (the header above): nothing holds every event. Each group gets its join key
-- after grouping.
WITH uses AS (
  SELECT COALESCE(session_issuer_arn, principal_arn, user_name) AS principal, account_id, error_code, event_time,
         aws_region, model_id, source_ip, key_basis, event_id
  FROM events
  WHERE activity = 'bearer_short_term'
),
totals AS (
  SELECT COALESCE(principal, '') || '|' || COALESCE(account_id, '') AS k, *
  FROM (
    SELECT principal, account_id,
           SUM(CASE WHEN error_code IS NULL THEN 1 ELSE 0 END) AS calls_ok,
           SUM(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END) AS calls_denied,
           MIN(event_time) AS first_seen,
           MAX(event_time) AS last_seen
    FROM uses GROUP BY principal, account_id
  ) AS g
),
-- Each list holds the distinct values in the order of their first use (ties by value).
regions AS (
  SELECT COALESCE(principal, '') || '|' || COALESCE(account_id, '') AS k,
         ARRAY_AGG(aws_region ORDER BY t, aws_region) AS regions
  FROM (SELECT principal, account_id, aws_region, MIN(event_time) AS t
        FROM uses GROUP BY principal, account_id, aws_region) AS x
  GROUP BY principal, account_id
),
models AS (
  SELECT COALESCE(principal, '') || '|' || COALESCE(account_id, '') AS k,
         ARRAY_AGG(model_id ORDER BY t, model_id) AS models
  FROM (SELECT principal, account_id, model_id, MIN(event_time) AS t
        FROM uses GROUP BY principal, account_id, model_id) AS x
  GROUP BY principal, account_id
),
ips AS (
  SELECT COALESCE(principal, '') || '|' || COALESCE(account_id, '') AS k,
         ARRAY_AGG(source_ip ORDER BY t, source_ip) AS source_ips
  FROM (SELECT principal, account_id, source_ip, MIN(event_time) AS t
        FROM uses GROUP BY principal, account_id, source_ip) AS x
  GROUP BY principal, account_id
),
bases AS (
  SELECT COALESCE(principal, '') || '|' || COALESCE(account_id, '') AS k,
         ARRAY_AGG(key_basis ORDER BY t, key_basis) AS key_basis
  FROM (SELECT principal, account_id, key_basis, MIN(event_time) AS t
        FROM uses GROUP BY principal, account_id, key_basis) AS x
  GROUP BY principal, account_id
)
SELECT t.principal, t.account_id, t.calls_ok, t.calls_denied, t.first_seen, t.last_seen,
       r.regions, m.models, p.source_ips, b.key_basis
FROM totals t
JOIN regions r ON r.k = t.k
JOIN models m ON m.k = t.k
JOIN ips p ON p.k = t.k
JOIN bases b ON b.k = t.k
ORDER BY t.first_seen, t.account_id, t.principal
