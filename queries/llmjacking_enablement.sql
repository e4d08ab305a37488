-- id: llmjacking_enablement
-- title: LLMjacking enablement pattern
-- severity: critical
-- description: One principal called at least `min_actions` of the 14 actions of the LLMjacking pattern (Prowler's list: enabling model access and marketplace agreements, reading or changing invocation logging, discovering and invoking models) within the sliding window. Together they are how stolen cloud credentials are turned into a model-access resale.
-- mitre: T1496
-- param: window = 24h; the sliding window
-- param: min_actions = 6; distinct actions within the window that fire
-- window: ${window}
-- group_by: account_id, principal
-- having: COUNT(DISTINCT event_name) >= ${min_actions}
SELECT
  account_id,
  COALESCE(session_issuer_arn, principal_arn, user_name) AS principal,
  event_name,
  event_time,
  event_id,
  error_code,
  aws_region,
  source_ip
FROM events
WHERE event_name IN ('PutUseCaseForModelAccess', 'PutFoundationModelEntitlement',
                     'PutModelInvocationLoggingConfiguration', 'CreateFoundationModelAgreement',
                     'InvokeModel', 'InvokeModelWithResponseStream', 'GetUseCaseForModelAccess',
                     'GetModelInvocationLoggingConfiguration', 'GetFoundationModelAvailability',
                     'ListFoundationModelAgreementOffers', 'ListFoundationModels',
                     'ListProvisionedModelThroughputs', 'SearchAgreements', 'AcceptAgreementRequest')
