-- id: scripted_bearer_client
-- title: Bedrock API key used from a generic HTTP client
-- severity: low
-- description: Bearer-token calls whose user agent is a generic HTTP library (python-requests, aiohttp, curl, httpx, axios, node-fetch, Go-http-client, okhttp) rather than an AWS SDK, per principal and user agent. Scripts that resell or test stolen keys often look like this; user agents are easy to fake, so this is context, not proof.
-- mitre: T1078.004
SELECT
  account_id,
  principal,
  user_agent,
  COUNT(*) AS calls,
  SUM(CASE WHEN error_code IS NULL THEN 1 ELSE 0 END) AS calls_ok,
  ARRAY_AGG(DISTINCT source_ip) AS source_ips,
  MIN(event_time) AS first_seen,
  MAX(event_time) AS last_seen,
  ARRAY_AGG(event_id) AS event_ids
FROM (SELECT *, COALESCE(session_issuer_arn, principal_arn, user_name) AS principal FROM events
      WHERE bearer_token
        AND (LOWER(user_agent) LIKE '%python-requests%'
             OR LOWER(user_agent) LIKE '%aiohttp%'
             OR LOWER(user_agent) LIKE '%curl/%'
             OR LOWER(user_agent) LIKE '%httpx%'
             OR LOWER(user_agent) LIKE '%axios%'
             OR LOWER(user_agent) LIKE '%node-fetch%'
             OR LOWER(user_agent) LIKE '%go-http-client%'
             OR LOWER(user_agent) LIKE '%okhttp%')) AS s
GROUP BY account_id, principal, user_agent
ORDER BY first_seen
