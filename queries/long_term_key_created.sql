-- id: long_term_key_created
-- title: Long-term Bedrock API key created
-- severity: high
-- description: CreateServiceSpecificCredential succeeded for bedrock.amazonaws.com. Long-term keys are static secrets; confirm the creator meant to make one and that the user has least privilege.
-- mitre: T1098.001
SELECT
  event_time AS created_at,
  account_id,
  target_user AS key_user,
  credential_id,
  principal_arn AS created_by,
  credential_age_days,
  credential_expiration,
  source_ip,
  event_id
FROM events
WHERE activity = 'key_created'
ORDER BY event_time, event_id
