-- id: invocation_logging_changed
-- title: Bedrock model invocation logging deleted or replaced
-- severity: high
-- description: DeleteModelInvocationLoggingConfiguration or PutModelInvocationLoggingConfiguration succeeded, by any credential. Invocation logs are where prompts and responses are kept; deleting or redirecting them is how an abuser hides what the models were used for. Check the new configuration, or restore it.
-- mitre: T1562.008
SELECT
  event_time,
  account_id,
  aws_region,
  event_name,
  COALESCE(principal_arn, user_name) AS principal,
  key_kind,
  source_ip,
  user_agent,
  event_id
FROM events
WHERE event_source LIKE 'bedrock%'
  AND event_name IN ('DeleteModelInvocationLoggingConfiguration', 'PutModelInvocationLoggingConfiguration')
  AND error_code IS NULL
ORDER BY event_time, event_id
