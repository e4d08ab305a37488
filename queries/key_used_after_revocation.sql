-- id: key_used_after_revocation
-- title: Bedrock API key used after it was deactivated or deleted
-- severity: critical
-- description: A long-term key's user made bearer-token calls after one of its Bedrock keys was set Inactive or deleted. Either the revocation missed a second key, the key was reactivated, or someone still holds it; denied calls show it is still being tried.
-- mitre: T1078.004
WITH revoked AS (
  SELECT target_user AS key_user, account_id AS revoked_account, credential_id, activity AS revocation,
         event_time AS revoked_at, event_id AS revocation_event_id
  FROM events
  WHERE activity = 'key_deleted'
     OR (activity = 'key_status_changed' AND LOWER(credential_status) = 'inactive')
),
uses AS (
  SELECT user_name, account_id, event_time, event_id, error_code
  FROM events
  WHERE activity = 'bearer_long_term'
)
SELECT
  r.key_user,
  r.revoked_account AS account_id,
  r.credential_id,
  r.revocation,
  r.revoked_at,
  r.revocation_event_id,
  COUNT(u.event_id) AS calls_after,
  SUM(CASE WHEN u.error_code IS NULL THEN 1 ELSE 0 END) AS calls_ok_after,
  MIN(u.event_time) AS first_use_after,
  MAX(u.event_time) AS last_use_after,
  ARRAY_AGG(u.event_id) AS event_ids
FROM revoked r
JOIN uses u ON u.user_name = r.key_user AND u.account_id = r.revoked_account
WHERE u.event_time > r.revoked_at
GROUP BY r.key_user, r.revoked_account, r.credential_id, r.revocation, r.revoked_at, r.revocation_event_id
ORDER BY r.revoked_at, r.revocation_event_id
