-- id: key_new_source
-- title: Bedrock API key used from a new source IP
-- severity: medium
-- description: A long-term key's user, or the signer of short-term keys, with at least `history` of activity made a bearer-token call from a source IP it did not use in the `history` before. Thresholds miss a thief who paces the calls; a new place is what changes. In a scan the first `history` of the data read is baseline only; the scheduled job remembers each principal's sources across runs.
-- mitre: T1078.004
-- param: history = 7d; how far back a source counts as known, and the activity needed first
-- baseline: ${history}
-- group_by: account_id, principal
-- new_value: source_ip
SELECT
  account_id,
  COALESCE(session_issuer_arn, principal_arn, user_name) AS principal,
  source_ip,
  event_time,
  event_id,
  key_kind,
  event_name,
  aws_region,
  user_agent
FROM events
WHERE bearer_token
