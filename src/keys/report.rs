//! The printable description of a decoded token (the `decode` JSON schema): every field
//! a responder needs, none that is secret.

use serde::{Deserialize, Serialize};

use super::account::account_from_key_id;
use super::token::{Decoded, Product, SECRET_BYTES, Token, signer_meaning};
use crate::timefmt::format_micros;

/// One decoded key, as `keytrail decode --format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenReport {
    /// `long_term` or `short_term`.
    pub kind: String,
    pub product: Product,
    pub redacted: String,
    pub fingerprint: String,
    pub length: usize,
    /// The account the key belongs to, when it can be told.
    pub account_id: Option<String>,
    /// Where the account comes from: `token` (long-term) or `access_key_id` (short-term).
    pub account_basis: Option<String>,
    /// Long-term: the IAM user.
    pub user_name: Option<String>,
    /// Long-term: `primary` or `secondary` (`+1`).
    pub key_slot: Option<String>,
    /// Long-term: `<user>[+1]-at-<account>`, the credential's service user name.
    pub service_user_name: Option<String>,
    /// Long-term: bytes of the secret (never the secret).
    pub secret_length: Option<usize>,
    /// Short-term: the access key id that signed the key.
    pub access_key_id: Option<String>,
    /// Short-term: what that access key id is.
    pub signer: Option<String>,
    pub region: Option<String>,
    pub issued_at: Option<String>,
    pub expires_at: Option<String>,
    pub lifetime_seconds: Option<i64>,
    pub expired: Option<bool>,
    pub session_token_present: Option<bool>,
    /// Caveats: truncation hints, expiry bounds, unverified formats.
    pub notes: Vec<String>,
}

impl TokenReport {
    /// Describes a token as of `now` (micros since the epoch).
    pub fn new(t: &Token, now: i64) -> TokenReport {
        let mut r = TokenReport {
            kind: String::new(),
            product: t.product(),
            redacted: t.redacted.clone(),
            fingerprint: t.fingerprint.clone(),
            length: t.length,
            account_id: None,
            account_basis: None,
            user_name: None,
            key_slot: None,
            service_user_name: None,
            secret_length: None,
            access_key_id: None,
            signer: None,
            region: None,
            issued_at: None,
            expires_at: None,
            lifetime_seconds: None,
            expired: None,
            session_token_present: None,
            notes: Vec::new(),
        };
        if t.product() == Product::ClaudePlatform {
            r.notes.push(
                "Claude Platform on AWS key: read with the Bedrock key layout, which AWS does not document for this product"
                    .into(),
            );
        }
        match &t.decoded {
            Decoded::LongTerm(k) => {
                r.kind = "long_term".into();
                r.account_id = Some(k.account_id.clone());
                r.account_basis = Some("token".into());
                r.user_name = Some(k.user_name.clone());
                r.key_slot = Some(if k.secondary { "secondary" } else { "primary" }.into());
                r.service_user_name = Some(k.service_user_name.clone());
                r.secret_length = Some(k.secret_bytes);
                r.notes.push(
                    "a long-term key is valid until it expires (credentialAgeDays, possibly never), is set Inactive, reset or deleted: check `keytrail keys` or IAM"
                        .into(),
                );
                if k.secret_bytes != SECRET_BYTES {
                    r.notes.push(format!(
                        "the secret is {} bytes where keys seen so far have {SECRET_BYTES}",
                        k.secret_bytes
                    ));
                }
            }
            Decoded::ShortTerm(k) => {
                r.kind = "short_term".into();
                match account_from_key_id(&k.access_key_id) {
                    Ok(a) => {
                        r.account_id = Some(a);
                        r.account_basis = Some("access_key_id".into());
                    }
                    Err(e) => r.notes.push(format!("account unknown: {e}")),
                }
                r.access_key_id = Some(k.access_key_id.clone());
                r.signer = Some(signer_meaning(&k.access_key_id).into());
                r.region = Some(k.region.clone());
                r.issued_at = Some(format_micros(k.issued_at));
                r.expires_at = Some(format_micros(k.expires_at()));
                r.lifetime_seconds = Some(k.lifetime_seconds());
                r.expired = Some(now >= k.expires_at());
                r.session_token_present = Some(k.session_token);
                if k.expires_param.is_some_and(|s| s > k.lifetime_seconds()) {
                    r.notes.push(format!(
                        "X-Amz-Expires is {} s; short-term keys are capped at 12 h",
                        k.expires_param.unwrap_or_default()
                    ));
                }
                if k.session_token {
                    r.notes.push(
                        "signed with session credentials: it also stops working when that session expires"
                            .into(),
                    );
                }
                if k.service != "bedrock" {
                    r.notes
                        .push(format!("signed for service {:?}, not bedrock", k.service));
                }
                r.notes.push(format!("valid only in {}", k.region));
                r.notes.extend(k.truncation_hint.clone());
            }
        }
        r
    }
}
