//! The normalized event: one row of the `events` table, and the column list rules rely on.
//!
//! [`Event`] owns its strings: it is what consumers read back from the table. Ingest never
//! builds one per record: the normalizer fills an [`EventRef`], whose strings borrow from the
//! parsed record, and the table's column builders copy (and intern) only what they keep.

use std::borrow::Cow;

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

/// An event whose text borrows from the parsed record (ingest's working form of [`Event`];
/// the fields mean the same). Text that had to be converted (a number read as text) is owned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventRef<'a> {
    pub event_id: Option<Cow<'a, str>>,
    pub event_time: Option<i64>,
    pub event_source: Option<Cow<'a, str>>,
    pub event_name: Option<Cow<'a, str>>,
    pub event_type: Option<Cow<'a, str>>,
    pub aws_region: Option<Cow<'a, str>>,
    pub account_id: Option<Cow<'a, str>>,
    pub source_ip: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub error_code: Option<Cow<'a, str>>,
    pub error_message: Option<Cow<'a, str>>,
    pub read_only: Option<bool>,
    pub identity_type: Option<Cow<'a, str>>,
    pub principal_id: Option<Cow<'a, str>>,
    pub principal_arn: Option<Cow<'a, str>>,
    pub access_key_id: Option<Cow<'a, str>>,
    pub user_name: Option<Cow<'a, str>>,
    pub session_issuer_arn: Option<Cow<'a, str>>,
    pub bearer_token: bool,
    pub bearer_token_type: Option<Cow<'a, str>>,
    pub model_id: Option<Cow<'a, str>>,
    pub target_user: Option<Cow<'a, str>>,
    pub service_name: Option<Cow<'a, str>>,
    pub credential_id: Option<Cow<'a, str>>,
    pub service_user_name: Option<Cow<'a, str>>,
    pub credential_status: Option<Cow<'a, str>>,
    pub credential_age_days: Option<i64>,
    pub credential_expiration: Option<i64>,
    pub policy_arn: Option<Cow<'a, str>>,
    pub policy_mentions_bearer: bool,
    pub policy_document: Option<Cow<'a, str>>,
    pub target_role: Option<Cow<'a, str>>,
    pub activity: Option<&'static str>,
    pub key_kind: Option<&'static str>,
    pub key_basis: Option<&'static str>,
    pub source: Cow<'a, str>,
    pub raw: Option<Cow<'a, str>>,
}

/// Owned text from borrowed.
fn own(v: &Option<Cow<'_, str>>) -> Option<String> {
    v.as_deref().map(str::to_string)
}

/// Borrowed text from owned.
fn lend(v: &Option<String>) -> Option<Cow<'_, str>> {
    v.as_deref().map(Cow::Borrowed)
}

impl<'a> EventRef<'a> {
    /// Every text field that comes from the record (for redaction).
    pub fn record_text_mut(&mut self) -> [&mut Option<Cow<'a, str>>; 27] {
        [
            &mut self.event_id,
            &mut self.event_source,
            &mut self.event_name,
            &mut self.event_type,
            &mut self.aws_region,
            &mut self.account_id,
            &mut self.source_ip,
            &mut self.user_agent,
            &mut self.error_code,
            &mut self.error_message,
            &mut self.identity_type,
            &mut self.principal_id,
            &mut self.principal_arn,
            &mut self.access_key_id,
            &mut self.user_name,
            &mut self.session_issuer_arn,
            &mut self.bearer_token_type,
            &mut self.model_id,
            &mut self.target_user,
            &mut self.service_name,
            &mut self.credential_id,
            &mut self.service_user_name,
            &mut self.credential_status,
            &mut self.policy_arn,
            &mut self.policy_document,
            &mut self.target_role,
            &mut self.raw,
        ]
    }

    /// The owned event with the same values (for the rare events kept aside, such as
    /// lifecycle changes that are attributed after every input is read).
    pub fn to_event(&self) -> Event {
        Event {
            event_id: own(&self.event_id),
            event_time: self.event_time,
            event_source: own(&self.event_source),
            event_name: own(&self.event_name),
            event_type: own(&self.event_type),
            aws_region: own(&self.aws_region),
            account_id: own(&self.account_id),
            source_ip: own(&self.source_ip),
            user_agent: own(&self.user_agent),
            error_code: own(&self.error_code),
            error_message: own(&self.error_message),
            read_only: self.read_only,
            identity_type: own(&self.identity_type),
            principal_id: own(&self.principal_id),
            principal_arn: own(&self.principal_arn),
            access_key_id: own(&self.access_key_id),
            user_name: own(&self.user_name),
            session_issuer_arn: own(&self.session_issuer_arn),
            bearer_token: self.bearer_token,
            bearer_token_type: own(&self.bearer_token_type),
            model_id: own(&self.model_id),
            target_user: own(&self.target_user),
            service_name: own(&self.service_name),
            credential_id: own(&self.credential_id),
            service_user_name: own(&self.service_user_name),
            credential_status: own(&self.credential_status),
            credential_age_days: self.credential_age_days,
            credential_expiration: self.credential_expiration,
            policy_arn: own(&self.policy_arn),
            policy_mentions_bearer: self.policy_mentions_bearer,
            policy_document: own(&self.policy_document),
            target_role: own(&self.target_role),
            activity: self.activity,
            key_kind: self.key_kind,
            key_basis: self.key_basis,
            source: self.source.to_string(),
            raw: own(&self.raw),
        }
    }
}

impl Event {
    /// The same event as an [`EventRef`] borrowing this one's text.
    pub fn borrowed(&self) -> EventRef<'_> {
        EventRef {
            event_id: lend(&self.event_id),
            event_time: self.event_time,
            event_source: lend(&self.event_source),
            event_name: lend(&self.event_name),
            event_type: lend(&self.event_type),
            aws_region: lend(&self.aws_region),
            account_id: lend(&self.account_id),
            source_ip: lend(&self.source_ip),
            user_agent: lend(&self.user_agent),
            error_code: lend(&self.error_code),
            error_message: lend(&self.error_message),
            read_only: self.read_only,
            identity_type: lend(&self.identity_type),
            principal_id: lend(&self.principal_id),
            principal_arn: lend(&self.principal_arn),
            access_key_id: lend(&self.access_key_id),
            user_name: lend(&self.user_name),
            session_issuer_arn: lend(&self.session_issuer_arn),
            bearer_token: self.bearer_token,
            bearer_token_type: lend(&self.bearer_token_type),
            model_id: lend(&self.model_id),
            target_user: lend(&self.target_user),
            service_name: lend(&self.service_name),
            credential_id: lend(&self.credential_id),
            service_user_name: lend(&self.service_user_name),
            credential_status: lend(&self.credential_status),
            credential_age_days: self.credential_age_days,
            credential_expiration: self.credential_expiration,
            policy_arn: lend(&self.policy_arn),
            policy_mentions_bearer: self.policy_mentions_bearer,
            policy_document: lend(&self.policy_document),
            target_role: lend(&self.target_role),
            activity: self.activity,
            key_kind: self.key_kind,
            key_basis: self.key_basis,
            source: Cow::Borrowed(&self.source),
            raw: lend(&self.raw),
        }
    }
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
