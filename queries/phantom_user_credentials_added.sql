-- id: phantom_user_credentials_added
-- title: BedrockAPIKey user given an access key or a console password
-- severity: high
-- description: A BedrockAPIKey-* IAM user (the user the Bedrock console makes for a long-term key) was given an access key or a console password (CreateAccessKey, CreateLoginProfile, UpdateLoginProfile). These users need neither: the key's user becomes a standing identity that reaches beyond Bedrock. Remove the access key or login profile unless someone can explain it.
-- mitre: T1098.001
-- The cheap tests on stored columns go inside the CTE: with them on the outer query
-- beside the test on key_user, polars read every row of the table into memory for the sort.
WITH e AS (
  SELECT *, COALESCE(target_user, CASE WHEN identity_type = 'IAMUser' THEN user_name END) AS key_user
  FROM events
  WHERE event_source = 'iam.amazonaws.com'
    AND event_name IN ('CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile')
    AND error_code IS NULL
)
SELECT event_time, account_id, key_user, event_name, principal_arn AS actor, source_ip, user_agent, event_id
FROM e
WHERE LOWER(key_user) LIKE 'bedrockapikey-_%'
ORDER BY event_time, event_id
