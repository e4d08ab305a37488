-- id: revocation_misses_mantle
-- title: Bedrock API key deny leaves Bedrock Mantle open
-- severity: high
-- description: A policy or SCP was written that denies bedrock:CallWithBearerToken but not bedrock-mantle:CallWithBearerToken, so the keys it means to stop still work on Bedrock Mantle. The evidence also holds the later successful Mantle bearer calls of the principals it covers (the user or role of an inline policy; any principal of the account for a managed or group policy; any account for an SCP). Add bedrock-mantle:CallWithBearerToken to the deny.
-- mitre: T1078.004
WITH denies AS (
  SELECT event_id AS policy_event_id, event_time AS written_at, account_id, event_source,
         event_name, COALESCE(target_user, target_role) AS applies_to, policy_arn,
         COALESCE(principal_arn, user_name) AS written_by
  FROM events
  WHERE error_code IS NULL
    AND policy_document IS NOT NULL
    AND policy_denies(policy_document, 'bedrock:CallWithBearerToken')
    AND NOT policy_denies(policy_document, 'bedrock-mantle:CallWithBearerToken')
),
mantle AS (
  SELECT event_id AS call_id, event_time AS call_time, account_id AS call_account, user_name AS caller
  FROM events
  WHERE event_source = 'bedrock-mantle.amazonaws.com' AND bearer_token AND error_code IS NULL
),
later AS (
  SELECT d.policy_event_id, m.call_id, m.call_time
  FROM denies d CROSS JOIN mantle m
  WHERE m.call_time > d.written_at
    AND (d.event_source = 'organizations.amazonaws.com'
         OR (m.call_account = d.account_id AND (d.applies_to IS NULL OR m.caller = d.applies_to)))
),
evidence AS (
  SELECT policy_event_id, policy_event_id AS eid, written_at AS t, 0 AS is_call FROM denies
  UNION ALL
  SELECT policy_event_id, call_id AS eid, call_time AS t, 1 AS is_call FROM later
)
SELECT
  d.written_at,
  d.account_id,
  d.event_name,
  d.applies_to,
  d.policy_arn,
  d.written_by,
  SUM(e.is_call) AS mantle_calls_after,
  ARRAY_AGG(e.eid ORDER BY e.t) AS event_ids
FROM denies d
JOIN evidence e ON e.policy_event_id = d.policy_event_id
GROUP BY d.policy_event_id, d.written_at, d.account_id, d.event_name, d.applies_to, d.policy_arn, d.written_by
ORDER BY d.written_at, d.account_id, d.policy_arn, d.applies_to, d.event_name
