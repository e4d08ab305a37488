-- id: console_key_flow
-- title: Console Bedrock API key flow (BedrockAPIKey user created, AmazonBedrockLimitedAccess attached)
-- severity: medium
-- description: The Bedrock console makes a long-term key by creating a BedrockAPIKey-xxxx IAM user and attaching AmazonBedrockLimitedAccess. Each such user is a standing identity to review.
-- mitre: T1136.003
SELECT
  target_user AS key_user,
  account_id,
  SUM(CASE WHEN event_name = 'CreateUser' AND error_code IS NULL THEN 1 ELSE 0 END) AS users_created,
  SUM(CASE WHEN event_name = 'AttachUserPolicy' AND error_code IS NULL THEN 1 ELSE 0 END) AS policies_attached,
  SUM(CASE WHEN activity = 'key_created' THEN 1 ELSE 0 END) AS keys_created,
  ARRAY_AGG(DISTINCT principal_arn) AS actors,
  MIN(event_time) AS first_seen,
  MAX(event_time) AS last_seen,
  ARRAY_AGG(event_id) AS event_ids
FROM events
WHERE LOWER(target_user) LIKE 'bedrockapikey-%'
  AND (event_name = 'CreateUser'
       OR (event_name = 'AttachUserPolicy' AND policy_arn LIKE '%/AmazonBedrockLimitedAccess')
       OR activity = 'key_created')
GROUP BY target_user, account_id
HAVING users_created + policies_attached > 0
ORDER BY first_seen, account_id, key_user
