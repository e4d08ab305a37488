-- id: model_access_enabled
-- title: Bedrock model access enabled
-- severity: medium
-- description: A principal enabled access to foundation models (PutUseCaseForModelAccess, PutFoundationModelEntitlement, CreateFoundationModelAgreement). LLMjacking starts by enabling the models the thief wants to sell; confirm the principal and the models were meant.
-- mitre: T1496
SELECT
  account_id,
  principal,
  ARRAY_AGG(DISTINCT event_name) AS actions,
  ARRAY_AGG(DISTINCT model_id) AS models,
  ARRAY_AGG(DISTINCT aws_region) AS regions,
  ARRAY_AGG(DISTINCT source_ip) AS source_ips,
  MIN(event_time) AS first_seen,
  MAX(event_time) AS last_seen,
  ARRAY_AGG(event_id) AS event_ids
FROM (SELECT *, COALESCE(principal_arn, user_name) AS principal FROM events
      WHERE event_source LIKE 'bedrock%'
        AND event_name IN ('PutUseCaseForModelAccess', 'PutFoundationModelEntitlement', 'CreateFoundationModelAgreement')
        AND error_code IS NULL) AS e
GROUP BY account_id, principal
ORDER BY first_seen, account_id, principal
