-- id: key_creation_denied
-- title: Bedrock API key creation failed
-- severity: medium
-- description: CreateServiceSpecificCredential for bedrock.amazonaws.com returned an error. Repeated denials can mean someone is probing for a way to mint a key.
-- mitre: T1098.001
SELECT
  event_time,
  account_id,
  target_user AS key_user,
  principal_arn AS attempted_by,
  error_code,
  error_message,
  source_ip,
  event_id
FROM events
WHERE activity = 'key_create_failed'
ORDER BY event_time, event_id
