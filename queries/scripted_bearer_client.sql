-- id: scripted_bearer_client
-- title: Bedrock API key used from a generic HTTP client
-- severity: low
-- description: Bearer-token calls whose user agent is a generic HTTP library (python-requests, aiohttp, curl, httpx, axios, node-fetch, Go-http-client, okhttp) rather than an AWS SDK, per principal and user agent. Scripts that resell or test stolen keys often look like this; user agents are easy to fake, so this is context, not proof.
-- mitre: T1078.004
-- evidence: s BY account_id, principal, user_agent
-- Counts and first uses come from streamable group-bys, and keytrail streams the evidence
-- from `s` (the header above): nothing holds every event. Each group gets its join key
-- after grouping.
WITH s AS (
  SELECT account_id, COALESCE(session_issuer_arn, principal_arn, user_name) AS principal, user_agent,
         error_code, source_ip, event_time, event_id
  FROM events
  WHERE bearer_token
    -- One case-insensitive regex: eight LOWER(...) LIKE tests cost eight passes per row.
    AND user_agent ~* 'python-requests|aiohttp|curl/|httpx|axios|node-fetch|go-http-client|okhttp'
),
totals AS (
  SELECT COALESCE(principal, '') || '|' || COALESCE(account_id, '') || '|' || COALESCE(user_agent, '') AS k, *
  FROM (
    SELECT account_id, principal, user_agent,
           COUNT(*) AS calls,
           SUM(CASE WHEN error_code IS NULL THEN 1 ELSE 0 END) AS calls_ok,
           MIN(event_time) AS first_seen,
           MAX(event_time) AS last_seen
    FROM s GROUP BY account_id, principal, user_agent
  ) AS g
),
-- The distinct source IPs in the order of their first use (ties by value).
ips AS (
  SELECT COALESCE(principal, '') || '|' || COALESCE(account_id, '') || '|' || COALESCE(user_agent, '') AS k,
         ARRAY_AGG(source_ip ORDER BY t, source_ip) AS source_ips
  FROM (SELECT account_id, principal, user_agent, source_ip, MIN(event_time) AS t
        FROM s GROUP BY account_id, principal, user_agent, source_ip) AS x
  GROUP BY account_id, principal, user_agent
)
SELECT t.account_id, t.principal, t.user_agent, t.calls, t.calls_ok, p.source_ips,
       t.first_seen, t.last_seen
FROM totals t
JOIN ips p ON p.k = t.k
ORDER BY t.first_seen, t.account_id, t.principal, t.user_agent
