-- id: guardrail_weakened
-- title: Bedrock guardrail deleted or changed
-- severity: medium
-- description: DeleteGuardrail, UpdateGuardrail, DeleteEnforcedGuardrailConfiguration or PutEnforcedGuardrailConfiguration succeeded. Guardrails filter what models may be asked and answer; removing or loosening one lets abuse through. Confirm the change was meant.
-- mitre: T1562.001
SELECT
  event_time,
  account_id,
  aws_region,
  event_name,
  COALESCE(principal_arn, user_name) AS principal,
  key_kind,
  source_ip,
  user_agent,
  event_id
FROM events
WHERE event_source LIKE 'bedrock%'
  AND event_name IN ('DeleteGuardrail', 'UpdateGuardrail', 'DeleteEnforcedGuardrailConfiguration', 'PutEnforcedGuardrailConfiguration')
  AND error_code IS NULL
ORDER BY event_time, event_id
