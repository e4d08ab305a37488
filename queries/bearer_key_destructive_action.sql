-- id: bearer_key_destructive_action
-- title: Bedrock API key used to delete resources or change invocation logging
-- severity: high
-- description: A call made with a Bedrock API key (bearer token, either plane, any outcome) to delete a guardrail, a custom or imported model, a customization job, provisioned throughput or a marketplace endpoint, or to delete or replace the model invocation logging configuration. Keys are for inference; these calls destroy resources or blind the logs, and a denied attempt still shows intent.
-- mitre: T1562.008, T1485
SELECT
  event_time,
  account_id,
  COALESCE(session_issuer_arn, principal_arn, user_name) AS principal,
  key_kind,
  event_source,
  event_name,
  error_code,
  aws_region,
  source_ip,
  user_agent,
  event_id
FROM events
WHERE bearer_token
  AND event_name IN ('DeleteGuardrail', 'DeleteModelInvocationLoggingConfiguration',
                     'PutModelInvocationLoggingConfiguration', 'DeleteImportedModel',
                     'DeleteCustomModel', 'DeleteModelCustomizationJob',
                     'DeleteProvisionedModelThroughput', 'DeleteMarketplaceModelEndpoint')
ORDER BY event_time, event_id
