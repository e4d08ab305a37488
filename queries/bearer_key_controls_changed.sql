-- id: bearer_key_controls_changed
-- title: Policy controlling Bedrock API keys created or changed
-- severity: medium
-- description: An IAM policy or an SCP was created or changed whose document names a Bedrock API key control: bedrock:CallWithBearerToken, bedrock-mantle:CallWithBearerToken, bedrock:BearerTokenType or iam:ServiceSpecificCredentialServiceName. These decide who may make and use keys; a change can open keys up as easily as close them. `denies_bedrock`/`denies_mantle` say whether the document denies bearer calls on each plane.
-- mitre: T1098
SELECT
  event_time,
  account_id,
  event_source,
  event_name,
  COALESCE(target_user, target_role) AS applies_to,
  policy_arn,
  policy_denies(policy_document, 'bedrock:CallWithBearerToken') AS denies_bedrock,
  policy_denies(policy_document, 'bedrock-mantle:CallWithBearerToken') AS denies_mantle,
  COALESCE(principal_arn, user_name) AS changed_by,
  source_ip,
  event_id
FROM events
WHERE policy_mentions_bearer
  AND error_code IS NULL
ORDER BY event_time, event_id
