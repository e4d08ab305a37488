-- id: recon_then_invoke
-- title: Model discovery then invocation with a long-term credential
-- severity: high
-- description: A long-term credential (an AKIA access key, or a long-term Bedrock API key) listed the foundation models or checked their availability and then invoked a model within the window, both successfully. Stolen long-term credentials are tested this way before they are sold or used; a workload rarely needs to discover models before each call.
-- mitre: T1580, T1496
-- param: window = 15m; the longest time from the discovery call to the invocation
-- window: ${window}
-- group_by: account_id, credential
-- sequence: recon, invoke
-- One SELECT over `events`, the same rows as a subquery filtered on its computed
-- `credential`, which made the streaming engine hold about 200 MB more at 3M dense events.
SELECT
  account_id,
  CASE WHEN access_key_id LIKE 'AKIA%' THEN access_key_id
       ELSE CONCAT('bedrock-api-key:', COALESCE(principal_arn, user_name))
  END AS credential,
  -- `=` tests, not `IN (...)`: polars 0.52 cannot stream an IN list in a SELECT and held
  -- every candidate row in memory for it (300 MB more at 3M dense events).
  CASE WHEN event_name = 'ListFoundationModels' OR event_name = 'GetFoundationModelAvailability'
       THEN 'recon' ELSE 'invoke' END AS step,
  event_time,
  event_id,
  event_name,
  model_id,
  aws_region,
  source_ip,
  user_agent
FROM events
WHERE error_code IS NULL
  AND (access_key_id LIKE 'AKIA%' OR activity = 'bearer_long_term')
  AND ((event_source = 'bedrock.amazonaws.com'
        AND event_name IN ('ListFoundationModels', 'GetFoundationModelAvailability',
                           'InvokeModel', 'InvokeModelWithResponseStream', 'InvokeModelWithBidirectionalStream',
                           'Converse', 'ConverseStream', 'StartAsyncInvoke'))
       OR (event_source = 'bedrock-mantle.amazonaws.com'
           AND event_name IN ('CreateChatCompletion', 'CreateCompletion', 'CreateMessage', 'CreateResponse')))
