-- id: key_without_short_expiry
-- title: Bedrock API key created with no expiry or more than 90 days
-- severity: high
-- description: A long-term Bedrock key was created that never expires or lives more than 90 days. Prefer short-term keys, or set credentialAgeDays to 90 or less.
-- mitre: T1098.001
SELECT
  event_time AS created_at,
  account_id,
  target_user AS key_user,
  credential_id,
  principal_arn AS created_by,
  CASE WHEN credential_age_days IS NULL AND credential_expiration IS NULL THEN 'never'
       ELSE CONCAT(CAST(credential_age_days AS VARCHAR), ' days') END AS expiry,
  event_id
FROM events
WHERE activity = 'key_created'
  AND ((credential_age_days IS NULL AND credential_expiration IS NULL) OR credential_age_days > 90)
ORDER BY event_time, event_id
