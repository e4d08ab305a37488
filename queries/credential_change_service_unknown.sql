-- id: credential_change_service_unknown
-- title: Service-specific credential changed, service unknown
-- severity: medium
-- description: An Update/Reset/DeleteServiceSpecificCredential whose credential was not created in the logs read and whose user is not a BedrockAPIKey user, so it may or may not be a Bedrock key. Read further back, or run `aws iam list-service-specific-credentials --user-name USER` to see its service.
-- mitre: T1098.001
SELECT
  event_time,
  event_name,
  account_id,
  target_user,
  credential_id,
  credential_status,
  principal_arn AS changed_by,
  'service unknown' AS service,
  event_id
FROM events
WHERE event_name IN ('UpdateServiceSpecificCredential', 'ResetServiceSpecificCredential', 'DeleteServiceSpecificCredential')
  AND activity IS NULL
  AND service_name IS NULL
ORDER BY event_time, event_id
