-- id: long_term_key_use
-- title: Long-term Bedrock API key used
-- severity: medium
-- description: Calls made with a long-term (ABSK) Bedrock API key, per principal. Check the principal, source IPs, regions and models against what the key was made for.
-- mitre: T1078.004
SELECT
  principal,
  account_id,
  SUM(CASE WHEN error_code IS NULL THEN 1 ELSE 0 END) AS calls_ok,
  SUM(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END) AS calls_denied,
  MIN(event_time) AS first_seen,
  MAX(event_time) AS last_seen,
  ARRAY_AGG(DISTINCT aws_region) AS regions,
  ARRAY_AGG(DISTINCT model_id) AS models,
  ARRAY_AGG(DISTINCT source_ip) AS source_ips,
  ARRAY_AGG(DISTINCT key_basis) AS key_basis,
  ARRAY_AGG(event_id) AS event_ids
FROM (SELECT *, COALESCE(principal_arn, user_name) AS principal FROM events WHERE activity = 'bearer_long_term') AS uses
GROUP BY principal, account_id
ORDER BY first_seen
