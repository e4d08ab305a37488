-- id: model_probing_failures
-- title: Burst of failed Bedrock calls (probing)
-- severity: medium
-- description: One principal made at least `threshold` failed Bedrock calls (ValidationException, AccessDenied*, ResourceNotFound*) within the sliding window. Someone holding a credential tries models, regions and parameters to find what it can reach; the window slides, so a burst is caught wherever it falls on the clock.
-- mitre: T1580
-- param: threshold = 10; failed calls within the window that fire
-- param: window = 10m; the sliding window
-- window: ${window}
-- group_by: account_id, principal
-- having: COUNT(*) >= ${threshold}
SELECT
  account_id,
  COALESCE(session_issuer_arn, principal_arn, user_name) AS principal,
  event_time,
  event_id,
  error_code,
  event_name,
  model_id,
  aws_region,
  source_ip
FROM events
WHERE event_source LIKE 'bedrock%'
  AND (error_code = 'ValidationException'
       OR error_code LIKE 'AccessDenied%'
       OR error_code LIKE 'ResourceNotFound%')
