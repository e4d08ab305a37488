//! The documented JSON shapes, for parsing output back with `deny_unknown_fields`.

use serde::Deserialize;

/// One row of the `events` table as `events --format ndjson` prints it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EventRow {
    pub event_id: Option<String>,
    pub event_time: Option<String>,
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    pub event_type: Option<String>,
    pub aws_region: Option<String>,
    pub account_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub read_only: Option<bool>,
    pub identity_type: Option<String>,
    pub principal_id: Option<String>,
    pub principal_arn: Option<String>,
    pub access_key_id: Option<String>,
    pub user_name: Option<String>,
    pub session_issuer_arn: Option<String>,
    pub bearer_token: bool,
    pub bearer_token_type: Option<String>,
    pub model_id: Option<String>,
    pub target_user: Option<String>,
    pub service_name: Option<String>,
    pub credential_id: Option<String>,
    pub service_user_name: Option<String>,
    pub credential_status: Option<String>,
    pub credential_age_days: Option<i64>,
    pub credential_expiration: Option<String>,
    pub policy_arn: Option<String>,
    pub policy_mentions_bearer: bool,
    pub policy_document: Option<String>,
    pub target_role: Option<String>,
    pub activity: Option<String>,
    pub key_kind: Option<String>,
    pub key_basis: Option<String>,
    pub source: String,
}
