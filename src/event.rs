//! The normalized event: one row of the `events` table, and the column list rules rely on.

use serde::Serialize;

/// One CloudTrail event reduced to the columns keytrail's rules use.
///
/// Times are microseconds since the Unix epoch, UTC. Field order is the column order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Event {
    pub event_id: Option<String>,
    #[serde(serialize_with = "crate::timefmt::ser_micros")]
    pub event_time: Option<i64>,
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
    #[serde(serialize_with = "crate::timefmt::ser_micros")]
    pub credential_expiration: Option<i64>,
    pub policy_arn: Option<String>,
    pub policy_mentions_bearer: bool,
    /// The policy text of a policy write (`requestParameters.policyDocument` or an SCP's
    /// `content`), only for `*Policy*` events.
    pub policy_document: Option<String>,
    /// `requestParameters.roleName`.
    pub target_role: Option<String>,
    pub activity: Option<&'static str>,
    pub key_kind: Option<&'static str>,
    pub key_basis: Option<&'static str>,
    pub source: String,
    /// The raw CloudTrail record, only when asked for (`IngestOptions::keep_raw`); not a column.
    #[serde(skip)]
    pub raw: Option<String>,
}

/// Column names of the `events` table, in order (kept in sync with [`Event`]).
pub const COLUMNS: &[&str] = &[
    "event_id",
    "event_time",
    "event_source",
    "event_name",
    "event_type",
    "aws_region",
    "account_id",
    "source_ip",
    "user_agent",
    "error_code",
    "error_message",
    "read_only",
    "identity_type",
    "principal_id",
    "principal_arn",
    "access_key_id",
    "user_name",
    "session_issuer_arn",
    "bearer_token",
    "bearer_token_type",
    "model_id",
    "target_user",
    "service_name",
    "credential_id",
    "service_user_name",
    "credential_status",
    "credential_age_days",
    "credential_expiration",
    "policy_arn",
    "policy_mentions_bearer",
    "policy_document",
    "target_role",
    "activity",
    "key_kind",
    "key_basis",
    "source",
];

/// The values `activity` takes (besides null).
pub const ACTIVITIES: &[&str] = &[
    "key_created",
    "key_create_failed",
    "key_status_changed",
    "key_reset",
    "key_deleted",
    "bearer_long_term",
    "bearer_short_term",
];

/// The values `key_kind` takes (besides null).
pub const KEY_KINDS: &[&str] = &["long_term", "short_term"];

/// The values `key_basis` takes (besides null).
pub const KEY_BASES: &[&str] = &[
    "bearer_token_type",
    "access_key_prefix",
    "identity_type",
    "unknown",
    "service_name",
    "credential_id",
    "user_name",
];

/// The static name of an `activity` value read back from the table.
pub fn activity_name(s: &str) -> Option<&'static str> {
    ACTIVITIES.iter().find(|a| **a == s).copied()
}

/// The static name of a `key_kind` value read back from the table.
pub fn key_kind_name(s: &str) -> Option<&'static str> {
    KEY_KINDS.iter().find(|a| **a == s).copied()
}

/// The static name of a `key_basis` value read back from the table.
pub fn key_basis_name(s: &str) -> Option<&'static str> {
    KEY_BASES.iter().find(|a| **a == s).copied()
}
