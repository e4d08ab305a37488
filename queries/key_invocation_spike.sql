-- id: key_invocation_spike
-- title: Spike of model invocations with a Bedrock API key
-- severity: high
-- description: More than `threshold` bearer-token model invocations (Bedrock runtime or Mantle) by one principal within the sliding window. Resold or abused keys run at volumes no single application does; the window slides, so a burst split across a clock boundary still counts.
-- mitre: T1496
-- param: threshold = 100; invocations within the window above which it fires
-- param: window = 5m; the sliding window
-- window: ${window}
-- group_by: account_id, principal
-- having: COUNT(*) > ${threshold}
SELECT
  account_id,
  COALESCE(session_issuer_arn, principal_arn, user_name) AS principal,
  event_time,
  event_id,
  key_kind,
  model_id,
  aws_region,
  source_ip,
  user_agent
FROM events
WHERE bearer_token
  AND ((event_source = 'bedrock.amazonaws.com'
        AND event_name IN ('InvokeModel', 'InvokeModelWithResponseStream', 'InvokeModelWithBidirectionalStream',
                           'Converse', 'ConverseStream', 'StartAsyncInvoke'))
       OR (event_source = 'bedrock-mantle.amazonaws.com'
           AND event_name IN ('CreateChatCompletion', 'CreateCompletion', 'CreateMessage', 'CreateResponse')))
