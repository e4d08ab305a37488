-- id: key_multi_region
-- title: Bedrock API key used in several regions within minutes
-- severity: high
-- description: Bearer-token calls (either plane, any outcome) by one principal in at least `min_regions` regions within the sliding window. Workloads call from where they run; a key used from several regions at once is usually shared or stolen and fanned out to spread load or dodge quotas. The window slides: two calls at 12:55 and 13:05 are 10 minutes apart, whatever the hour.
-- mitre: T1078.004
-- param: window = 30m; the sliding window
-- param: min_regions = 2; distinct regions within the window that fire
-- window: ${window}
-- group_by: account_id, principal
-- having: COUNT(DISTINCT aws_region) >= ${min_regions}
SELECT
  account_id,
  COALESCE(session_issuer_arn, principal_arn, user_name) AS principal,
  aws_region,
  event_time,
  event_id,
  key_kind,
  source_ip
FROM events
WHERE bearer_token
