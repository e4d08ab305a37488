-- id: phantom_user_activity_outside_bedrock
-- title: BedrockAPIKey user acting outside Bedrock
-- severity: high
-- description: An IAM user named BedrockAPIKey-* called a service other than Bedrock, Bedrock Mantle, sign-in or AWS Marketplace (GetCallerIdentity, GetSessionToken and GetAccessKeyInfo, which SDKs call on their own, are left out). The console makes these users for Bedrock keys only; activity elsewhere means the user was given other credentials or its key's permissions were widened.
-- mitre: T1078.004
SELECT
  account_id,
  user_name AS key_user,
  COUNT(*) AS calls,
  SUM(CASE WHEN error_code IS NULL THEN 1 ELSE 0 END) AS calls_ok,
  ARRAY_AGG(DISTINCT event_source) AS services,
  ARRAY_AGG(DISTINCT event_name) AS actions,
  ARRAY_AGG(DISTINCT source_ip) AS source_ips,
  MIN(event_time) AS first_seen,
  MAX(event_time) AS last_seen,
  ARRAY_AGG(event_id) AS event_ids
FROM events
WHERE identity_type = 'IAMUser'
  AND LOWER(user_name) LIKE 'bedrockapikey-_%'
  AND NOT (event_source LIKE 'bedrock%'
           OR event_source = 'signin.amazonaws.com'
           OR event_source LIKE '%marketplace%')
  AND event_name NOT IN ('GetCallerIdentity', 'GetSessionToken', 'GetAccessKeyInfo')
GROUP BY account_id, user_name
ORDER BY first_seen, account_id, key_user
