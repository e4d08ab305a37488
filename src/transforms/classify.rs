//! Bedrock key classification: which events matter, and what each one means for a key.
//!
//! Rules follow `BEDROCK_KEYS.md`: key creation by service name, bearer-token calls as
//! long- or short-term key use (with the basis kept visible), and key lifecycle events
//! attributed to Bedrock through the credential id or a `BedrockAPIKey-` user.

use std::collections::HashMap;

use crate::event::{Event, EventRef};

/// The service name that marks a service-specific credential as a Bedrock API key.
pub const BEDROCK_SERVICE: &str = "bedrock.amazonaws.com";
const CONSOLE_KEY_USER_PREFIX: &str = "bedrockapikey-";

/// True for IAM user names the Bedrock console creates for long-term keys.
pub fn is_console_key_user(name: &str) -> bool {
    name.len() > CONSOLE_KEY_USER_PREFIX.len()
        && name.as_bytes()[..CONSOLE_KEY_USER_PREFIX.len()]
            .eq_ignore_ascii_case(CONSOLE_KEY_USER_PREFIX.as_bytes())
}

/// Words (ASCII, matched case-insensitively in the raw record) one of which every record that
/// [`is_relevant`] keeps contains; records without any of them are not parsed. Widen this
/// list whenever `is_relevant` keeps a new kind of event.
pub const RELEVANT_KEYWORDS: &[&str] = &[
    "bedrock",
    "bearertoken",
    "servicespecificcredential",
    "searchagreements",
    "acceptagreementrequest",
];

/// AWS Marketplace calls of the LLMjacking pattern (model offers are bought there).
pub const MARKETPLACE_AGREEMENT_CALLS: &[&str] = &["SearchAgreements", "AcceptAgreementRequest"];

/// True when the event is Bedrock-relevant and kept by default.
pub fn is_relevant(e: &EventRef<'_>) -> bool {
    let source = e.event_source.as_deref().unwrap_or("");
    let name = e.event_name.as_deref().unwrap_or("");
    source.starts_with("bedrock")
        || e.bearer_token
        || name.contains("ServiceSpecificCredential")
        || e.user_name.as_deref().is_some_and(is_console_key_user)
        || e.target_user.as_deref().is_some_and(is_console_key_user)
        || e.policy_arn
            .as_deref()
            .is_some_and(|p| p.contains("AmazonBedrock"))
        || e.policy_mentions_bearer
        || MARKETPLACE_AGREEMENT_CALLS.contains(&name)
}

/// Classifies what can be decided from the event alone: key creation and bearer use.
pub fn classify_event(e: &mut EventRef<'_>) {
    if e.bearer_token {
        let (kind, basis) = bearer_kind(e);
        e.activity = Some(if kind == "short_term" {
            "bearer_short_term"
        } else {
            "bearer_long_term"
        });
        e.key_kind = Some(kind);
        e.key_basis = Some(basis);
        return;
    }
    if is_iam(e)
        && e.event_name.as_deref() == Some("CreateServiceSpecificCredential")
        && is_bedrock_service(e)
    {
        e.activity = Some(if e.error_code.is_some() {
            "key_create_failed"
        } else {
            "key_created"
        });
        e.key_kind = Some("long_term");
        e.key_basis = Some("service_name");
    }
}

/// True when the event came from IAM (or names no source, as some exports do).
fn is_iam(e: &EventRef<'_>) -> bool {
    e.event_source
        .as_deref()
        .is_none_or(|s| s == "iam.amazonaws.com")
}

/// True when the credential's service name is Bedrock's.
fn is_bedrock_service(e: &EventRef<'_>) -> bool {
    e.service_name
        .as_deref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case(BEDROCK_SERVICE))
}

/// Long- or short-term key use, and the evidence the decision rests on.
///
/// `bearerTokenType` wins; then an ASIA access key or a role/federated identity means
/// short-term; an IAM user with any other key means long-term. With no evidence at all the
/// riskier reading (long-term) is taken and the basis says `unknown`.
pub fn bearer_kind(e: &EventRef<'_>) -> (&'static str, &'static str) {
    if let Some(t) = e.bearer_token_type.as_deref() {
        let t = t.trim().to_ascii_uppercase();
        if t == "ABSK" || t.starts_with("LONG") {
            return ("long_term", "bearer_token_type");
        }
        if t.starts_with("SHORT") || t.starts_with("BEDROCK-API-KEY") {
            return ("short_term", "bearer_token_type");
        }
    }
    if e.access_key_id
        .as_deref()
        .is_some_and(|k| k.starts_with("ASIA"))
    {
        return ("short_term", "access_key_prefix");
    }
    match e.identity_type.as_deref() {
        Some("AssumedRole")
        | Some("FederatedUser")
        | Some("WebIdentityUser")
        | Some("SAMLUser") => ("short_term", "identity_type"),
        Some("IAMUser") => ("long_term", "identity_type"),
        _ => ("long_term", "unknown"),
    }
}

/// True for an Update/Reset/Delete of a service-specific credential: its attribution to
/// Bedrock waits until every input is read (the create event may be in another input).
pub fn is_lifecycle_change(e: &EventRef<'_>) -> bool {
    matches!(
        e.event_name.as_deref(),
        Some(
            "UpdateServiceSpecificCredential"
                | "ResetServiceSpecificCredential"
                | "DeleteServiceSpecificCredential"
        )
    ) && is_iam(e)
        && !e.bearer_token
}

/// What the logs say about which service a credential id belongs to.
#[derive(Debug, Default)]
pub struct CredentialServices {
    by_id: HashMap<String, String>,
}

impl CredentialServices {
    /// Remembers the service of a credential seen in a create event.
    pub fn observe(&mut self, e: &EventRef<'_>) {
        if e.event_name.as_deref() == Some("CreateServiceSpecificCredential")
            && let Some(id) = &e.credential_id
            && let Some(service) = &e.service_name
        {
            self.by_id
                .insert(id.to_string(), service.trim().to_ascii_lowercase());
        }
    }

    /// Adds what another batch observed.
    pub fn merge(&mut self, other: CredentialServices) {
        self.by_id.extend(other.by_id);
    }

    /// Attributes Update/Reset/Delete ServiceSpecificCredential events to Bedrock keys.
    ///
    /// Credentials known from a create event follow its service (copied into
    /// `service_name`); unknown ids belong to Bedrock when the user is a `BedrockAPIKey-`
    /// user; the rest stay unattributed.
    pub fn attribute(&self, e: &mut Event) {
        let r = e.borrowed();
        let activity = match e.event_name.as_deref() {
            Some("UpdateServiceSpecificCredential") => "key_status_changed",
            Some("ResetServiceSpecificCredential") => "key_reset",
            Some("DeleteServiceSpecificCredential") => "key_deleted",
            _ => return,
        };
        if !is_iam(&r) || r.bearer_token {
            return;
        }
        let known = e.credential_id.as_ref().and_then(|id| self.by_id.get(id));
        if e.service_name.is_none() {
            e.service_name = known.cloned();
        }
        let basis = match known.map(|s| s == BEDROCK_SERVICE) {
            Some(true) => "credential_id",
            Some(false) => return,
            None if e.target_user.as_deref().is_some_and(is_console_key_user) => "user_name",
            None => return,
        };
        e.activity = Some(activity);
        e.key_kind = Some("long_term");
        e.key_basis = Some(basis);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(f: impl FnOnce(&mut EventRef<'static>)) -> EventRef<'static> {
        let mut e = EventRef {
            event_source: Some("iam.amazonaws.com".into()),
            ..EventRef::default()
        };
        f(&mut e);
        e
    }

    fn create(service: &str, id: &str, error: Option<&str>) -> EventRef<'static> {
        ev(|e| {
            e.event_name = Some("CreateServiceSpecificCredential".into());
            e.service_name = Some(service.to_string().into());
            e.credential_id = Some(id.to_string().into());
            e.error_code = error.map(|x| x.to_string().into());
        })
    }

    fn bearer(f: impl FnOnce(&mut EventRef<'static>)) -> EventRef<'static> {
        let mut e = ev(|e| {
            e.event_source = Some("bedrock.amazonaws.com".into());
            e.event_name = Some("InvokeModel".into());
            e.bearer_token = true;
        });
        f(&mut e);
        classify_event(&mut e);
        e
    }

    #[test]
    fn bedrock_credential_creation_is_key_created() {
        let mut e = create("bedrock.amazonaws.com", "ACCA1", None);
        classify_event(&mut e);
        assert_eq!(e.activity, Some("key_created"));
        assert_eq!(e.key_kind, Some("long_term"));
        assert!(is_relevant(&e));
    }

    #[test]
    fn denied_bedrock_credential_creation_is_key_create_failed() {
        let mut e = create("bedrock.amazonaws.com", "ACCA1", Some("AccessDenied"));
        classify_event(&mut e);
        assert_eq!(e.activity, Some("key_create_failed"));
    }

    #[test]
    fn other_services_credentials_are_never_bedrock_keys() {
        for s in [
            "codecommit.amazonaws.com",
            "cassandra.amazonaws.com",
            "logs.amazonaws.com",
            "aws-external-anthropic.amazonaws.com",
        ] {
            let mut e = create(s, "ACCA2", None);
            classify_event(&mut e);
            assert_eq!(e.activity, None, "{s}");
        }
    }

    #[test]
    fn bearer_token_type_decides_first() {
        let e = bearer(|e| {
            e.bearer_token_type = Some("SHORT_TERM".into());
            e.identity_type = Some("IAMUser".into());
        });
        assert_eq!(
            (e.activity, e.key_basis),
            (Some("bearer_short_term"), Some("bearer_token_type"))
        );
        let e = bearer(|e| {
            e.bearer_token_type = Some("ABSK".into());
            e.access_key_id = Some("ASIAXXXX".into());
        });
        assert_eq!(
            (e.activity, e.key_basis),
            (Some("bearer_long_term"), Some("bearer_token_type"))
        );
    }

    #[test]
    fn asia_key_or_role_identity_means_short_term() {
        let e = bearer(|e| {
            e.identity_type = Some("IAMUser".into());
            e.access_key_id = Some("ASIAEXAMPLE".into());
        });
        assert_eq!(
            (e.key_kind, e.key_basis),
            (Some("short_term"), Some("access_key_prefix"))
        );
        for t in ["AssumedRole", "FederatedUser"] {
            let e = bearer(|e| e.identity_type = Some(t.into()));
            assert_eq!(
                (e.key_kind, e.key_basis),
                (Some("short_term"), Some("identity_type")),
                "{t}"
            );
        }
    }

    #[test]
    fn iam_user_with_non_asia_key_means_long_term() {
        let e = bearer(|e| {
            e.identity_type = Some("IAMUser".into());
            e.access_key_id = Some("AKIAEXAMPLE".into());
        });
        assert_eq!(
            (e.activity, e.key_basis),
            (Some("bearer_long_term"), Some("identity_type"))
        );
        let e = bearer(|e| e.identity_type = Some("Root".into()));
        assert_eq!(
            (e.activity, e.key_basis),
            (Some("bearer_long_term"), Some("unknown"))
        );
    }

    #[test]
    fn denied_bearer_calls_on_any_service_are_still_key_use() {
        let e = bearer(|e| {
            e.event_source = Some("bedrock-mantle.amazonaws.com".into());
            e.error_code = Some("AccessDeniedException".into());
            e.identity_type = Some("AssumedRole".into());
        });
        assert_eq!(e.activity, Some("bearer_short_term"));
        assert!(is_relevant(&e));
    }

    #[test]
    fn lifecycle_events_are_attributed_by_credential_id_or_console_user() {
        let mut creds = CredentialServices::default();
        creds.observe(&create("bedrock.amazonaws.com", "ACCABED", None));
        creds.observe(&create("codecommit.amazonaws.com", "ACCACODE", None));
        let change = |name: &str, id: &str, user: &str| {
            let mut e = ev(|e| {
                e.event_name = Some(name.to_string().into());
                e.credential_id = Some(id.to_string().into());
                e.target_user = Some(user.to_string().into());
            })
            .to_event();
            creds.attribute(&mut e);
            (e.activity, e.key_basis)
        };
        assert_eq!(
            change("UpdateServiceSpecificCredential", "ACCABED", "bob"),
            (Some("key_status_changed"), Some("credential_id"))
        );
        assert_eq!(
            change("ResetServiceSpecificCredential", "ACCABED", "bob"),
            (Some("key_reset"), Some("credential_id"))
        );
        assert_eq!(
            change(
                "DeleteServiceSpecificCredential",
                "ACCAX",
                "BedrockAPIKey-ab12"
            ),
            (Some("key_deleted"), Some("user_name"))
        );
        assert_eq!(
            change(
                "DeleteServiceSpecificCredential",
                "ACCACODE",
                "BedrockAPIKey-ab12"
            ),
            (None, None)
        );
        assert_eq!(
            change("UpdateServiceSpecificCredential", "ACCAX", "legacy"),
            (None, None)
        );
    }

    #[test]
    fn words_in_unrelated_fields_flag_nothing() {
        let mut e = ev(|e| {
            e.event_source = Some("s3.amazonaws.com".into());
            e.event_name = Some("GetObject".into());
            e.user_agent = Some("bedrock-client callWithBearerToken".into());
            e.target_user = Some("bedrock-admin".into());
        });
        classify_event(&mut e);
        assert_eq!(e.activity, None);
        assert!(!is_relevant(&e));
    }

    #[test]
    fn console_key_user_and_limited_access_policy_are_relevant() {
        let e = ev(|e| {
            e.event_name = Some("CreateUser".into());
            e.target_user = Some("BedrockAPIKey-x7k2".into());
        });
        assert!(is_relevant(&e));
        let e = ev(|e| {
            e.event_name = Some("AttachUserPolicy".into());
            e.policy_arn = Some("arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess".into());
        });
        assert!(is_relevant(&e));
        assert!(!is_console_key_user("BedrockAPIKey-"));
        assert!(!is_console_key_user("BedrockAPIKeyBackup"));
    }

    #[test]
    fn marketplace_agreements_and_phantom_user_credentials_are_relevant() {
        for name in MARKETPLACE_AGREEMENT_CALLS {
            let e = ev(|e| {
                e.event_source = Some("aws-marketplace.amazonaws.com".into());
                e.event_name = Some(name.to_string().into());
            });
            assert!(is_relevant(&e), "{name}");
            assert!(
                RELEVANT_KEYWORDS
                    .iter()
                    .any(|k| name.to_ascii_lowercase().contains(k)),
                "{name} has a keyword"
            );
        }
        let e = ev(|e| {
            e.event_name = Some("CreateLoginProfile".into());
            e.target_user = Some("BedrockAPIKey-q9zp".into());
        });
        assert!(is_relevant(&e));
        let e = ev(|e| {
            e.event_name = Some("CreateAccessKey".into());
            e.target_user = Some("BedrockAPIKeyBackup".into());
        });
        assert!(!is_relevant(&e), "the prefix needs its dash");
    }
}
