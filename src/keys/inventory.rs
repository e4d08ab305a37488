//! The key inventory rebuilt from events: every long-term Bedrock key the logs show
//! (created, changed or only used), its state from the latest lifecycle event and its use;
//! then short-term key use grouped by the principal that signed the keys.
//!
//! Bearer calls do not name the credential they used, only the IAM user: a call is put on
//! the user's key that existed at the time, or on every such key when the user had two
//! (`use_attribution` says so).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use polars::prelude::PolarsResult;

use crate::event::Event;
use crate::table::EventTable;
use crate::timefmt::ser_micros;

/// What the calls made with a key (or by a signer) looked like.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    pub calls_ok: u64,
    pub calls_denied: u64,
    #[serde(serialize_with = "ser_micros")]
    pub first_use: Option<i64>,
    #[serde(serialize_with = "ser_micros")]
    pub last_use: Option<i64>,
    pub regions: BTreeSet<String>,
    pub models: BTreeSet<String>,
    pub source_ips: BTreeSet<String>,
    pub user_agents: BTreeSet<String>,
}

impl Usage {
    /// Counts one bearer call.
    fn add(&mut self, e: &Event) {
        if e.error_code.is_some() {
            self.calls_denied += 1;
        } else {
            self.calls_ok += 1;
        }
        if let Some(t) = e.event_time {
            self.first_use = Some(self.first_use.map_or(t, |f| f.min(t)));
            self.last_use = Some(self.last_use.map_or(t, |l| l.max(t)));
        }
        let put = |set: &mut BTreeSet<String>, v: &Option<String>| {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                set.insert(v.to_string());
            }
        };
        put(&mut self.regions, &e.aws_region);
        put(&mut self.models, &e.model_id);
        put(&mut self.source_ips, &e.source_ip);
        put(&mut self.user_agents, &e.user_agent);
    }

    /// Every call, ok or denied.
    pub fn calls(&self) -> u64 {
        self.calls_ok + self.calls_denied
    }
}

/// One long-term key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LongTermKey {
    /// `ACCA...`; None when only the key's use was seen.
    pub credential_id: Option<String>,
    pub user_name: String,
    pub account_id: Option<String>,
    /// `<user>[+1]-at-<account>`, from the create response (matches a decoded ABSK key).
    pub service_user_name: Option<String>,
    /// None: created outside the logs read ("unknown").
    #[serde(serialize_with = "ser_micros")]
    pub created_at: Option<i64>,
    pub created_by: Option<String>,
    /// `never`, an RFC 3339 time, or None when the creation was not seen.
    pub expires: Option<String>,
    /// `Active`, `Inactive`, `Deleted`, or `unknown` (no lifecycle event seen).
    pub status: String,
    #[serde(serialize_with = "ser_micros")]
    pub status_since: Option<i64>,
    #[serde(serialize_with = "ser_micros")]
    pub last_reset: Option<i64>,
    #[serde(flatten)]
    pub usage: Usage,
    /// How calls were tied to this key: `user` (its user's only key), `user, shared with N
    /// other keys` (the user had several), or `none` (no calls).
    pub use_attribution: String,
    /// The eventIDs behind this row (lifecycle and use), for investigations.
    #[serde(skip)]
    pub event_ids: Vec<String>,
}

/// Short-term key use by one signing principal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShortTermSigner {
    /// The role (session issuer) or user whose credentials signed the keys.
    pub signer: String,
    pub identity_type: Option<String>,
    pub account_id: Option<String>,
    pub access_key_ids: BTreeSet<String>,
    #[serde(flatten)]
    pub usage: Usage,
}

/// The whole inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Inventory {
    pub long_term: Vec<LongTermKey>,
    pub short_term: Vec<ShortTermSigner>,
}

/// Builds the inventory from classified events (any order).
pub fn build(events: &[Event]) -> Inventory {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| e.event_time);
    let mut b = Builder::default();
    sorted.iter().for_each(|e| b.lifecycle(e));
    sorted.iter().for_each(|e| b.usage(e));
    b.finish()
}

/// Builds the inventory from the events table, a batch at a time (two passes: the keys'
/// lives first, then their use), so memory holds the keys, not the events.
pub fn build_from_table(table: &EventTable) -> PolarsResult<Inventory> {
    let mut b = Builder::default();
    for batch in table.batches() {
        batch?.iter().for_each(|e| b.lifecycle(e));
    }
    for batch in table.batches() {
        batch?.iter().for_each(|e| b.usage(e));
    }
    Ok(b.finish())
}

/// The inventory under construction: lifecycle events first (time order), then use.
#[derive(Default)]
struct Builder {
    keys: Vec<LongTermKey>,
    short: BTreeMap<(String, String), ShortTermSigner>,
}

impl Builder {
    /// Takes a key's creation or change into account.
    fn lifecycle(&mut self, e: &Event) {
        if e.error_code.is_some() {
            return;
        }
        match e.activity {
            Some("key_created") => created(&mut self.keys, e),
            Some("key_status_changed" | "key_reset" | "key_deleted") => changed(&mut self.keys, e),
            _ => {}
        }
    }

    /// Counts a bearer call on its key or signer.
    fn usage(&mut self, e: &Event) {
        match e.activity {
            Some("bearer_long_term") => used(&mut self.keys, e),
            Some("bearer_short_term") => signed(&mut self.short, e),
            _ => {}
        }
    }

    /// The finished inventory, keys in a stable order.
    fn finish(self) -> Inventory {
        let Builder { mut keys, short } = self;
        settle(&mut keys);
        Inventory {
            long_term: keys,
            short_term: short.into_values().collect(),
        }
    }
}

/// Marks unused keys and orders keys by account, creation and user.
fn settle(keys: &mut [LongTermKey]) {
    for k in keys.iter_mut() {
        if k.usage.calls() == 0 {
            k.use_attribution = "none".into();
        }
    }
    keys.sort_by(|a, b| {
        (
            &a.account_id,
            a.created_at.is_none(),
            a.created_at,
            &a.user_name,
        )
            .cmp(&(
                &b.account_id,
                b.created_at.is_none(),
                b.created_at,
                &b.user_name,
            ))
    });
}

/// The IAM user a lifecycle event is about: `requestParameters.userName`, else the caller.
fn subject_user(e: &Event) -> String {
    e.target_user
        .clone()
        .or_else(|| e.user_name.clone())
        .unwrap_or_else(|| "(unknown user)".into())
}

/// Who did it: the caller's ARN, else its user name.
fn actor(e: &Event) -> Option<String> {
    e.principal_arn.clone().or_else(|| e.user_name.clone())
}

/// An empty key record.
fn new_key(credential_id: Option<String>, user: String, account: Option<String>) -> LongTermKey {
    LongTermKey {
        credential_id,
        user_name: user,
        account_id: account,
        service_user_name: None,
        created_at: None,
        created_by: None,
        expires: None,
        status: "unknown".into(),
        status_since: None,
        last_reset: None,
        usage: Usage::default(),
        use_attribution: "user".into(),
        event_ids: Vec::new(),
    }
}

/// Finds the key with this credential id in this account, or adds it.
fn key_by_id<'k>(
    keys: &'k mut Vec<LongTermKey>,
    id: &str,
    user: &str,
    account: &Option<String>,
) -> &'k mut LongTermKey {
    let at = keys
        .iter()
        .position(|k| k.credential_id.as_deref() == Some(id) && &k.account_id == account);
    match at {
        Some(i) => &mut keys[i],
        None => {
            keys.push(new_key(Some(id.into()), user.into(), account.clone()));
            keys.last_mut().expect("just pushed")
        }
    }
}

/// Records a key creation.
fn created(keys: &mut Vec<LongTermKey>, e: &Event) {
    let user = subject_user(e);
    let k = match &e.credential_id {
        Some(id) => key_by_id(keys, id, &user, &e.account_id),
        None => {
            keys.push(new_key(None, user, e.account_id.clone()));
            keys.last_mut().expect("just pushed")
        }
    };
    k.created_at = e.event_time;
    k.created_by = actor(e);
    k.service_user_name = e.service_user_name.clone();
    k.expires = Some(match (e.credential_expiration, e.credential_age_days) {
        (Some(t), _) => crate::timefmt::format_micros(t),
        (None, None) => "never".into(),
        (None, Some(d)) => format!("{d} days after creation"),
    });
    k.status = e
        .credential_status
        .clone()
        .unwrap_or_else(|| "Active".into());
    k.status_since = e.event_time;
    k.event_ids.extend(e.event_id.clone());
}

/// Records a status change, reset or deletion on the key it names (or its user's key).
fn changed(keys: &mut Vec<LongTermKey>, e: &Event) {
    let user = subject_user(e);
    let k = match &e.credential_id {
        Some(id) => key_by_id(keys, id, &user, &e.account_id),
        None => {
            let mine: Vec<usize> = user_keys(keys, &user, &e.account_id);
            match mine.as_slice() {
                [one] => &mut keys[*one],
                _ => {
                    keys.push(new_key(None, user, e.account_id.clone()));
                    keys.last_mut().expect("just pushed")
                }
            }
        }
    };
    match e.activity {
        Some("key_reset") => k.last_reset = e.event_time,
        Some("key_deleted") => {
            k.status = "Deleted".into();
            k.status_since = e.event_time;
        }
        _ => {
            if let Some(s) = &e.credential_status {
                k.status = s.clone();
                k.status_since = e.event_time;
            }
        }
    }
    k.event_ids.extend(e.event_id.clone());
}

/// Indexes of the keys of `user` in `account`.
fn user_keys(keys: &[LongTermKey], user: &str, account: &Option<String>) -> Vec<usize> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| k.user_name == user && &k.account_id == account)
        .map(|(i, _)| i)
        .collect()
}

/// Puts a long-term bearer call on the key(s) its user held at the time.
fn used(keys: &mut Vec<LongTermKey>, e: &Event) {
    let user = e
        .user_name
        .clone()
        .or_else(|| e.principal_arn.clone())
        .unwrap_or_else(|| "(unknown user)".into());
    let mut mine = user_keys(keys, &user, &e.account_id);
    if mine.is_empty() {
        keys.push(new_key(None, user, e.account_id.clone()));
        mine.push(keys.len() - 1);
    }
    if mine.len() > 1 {
        let t = e.event_time.unwrap_or(i64::MAX);
        let alive: Vec<usize> = mine
            .iter()
            .copied()
            .filter(|i| keys[*i].created_at.is_none_or(|c| c <= t))
            .collect();
        if !alive.is_empty() {
            mine = alive;
        }
    }
    let shared = mine.len();
    for i in mine {
        let k = &mut keys[i];
        k.usage.add(e);
        k.event_ids.extend(e.event_id.clone());
        if shared > 1 {
            k.use_attribution = format!("user, shared with {} other keys", shared - 1);
        }
    }
}

/// Counts a short-term bearer call for the principal whose credentials signed it.
fn signed(short: &mut BTreeMap<(String, String), ShortTermSigner>, e: &Event) {
    let signer = e
        .session_issuer_arn
        .clone()
        .or_else(|| e.principal_arn.clone())
        .unwrap_or_else(|| "(unknown signer)".into());
    let account = e.account_id.clone();
    let s = short
        .entry((account.clone().unwrap_or_default(), signer.clone()))
        .or_insert_with(|| ShortTermSigner {
            signer,
            identity_type: e.identity_type.clone(),
            account_id: account,
            access_key_ids: BTreeSet::new(),
            usage: Usage::default(),
        });
    if let Some(k) = &e.access_key_id {
        s.access_key_ids.insert(k.clone());
    }
    s.usage.add(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, activity: &'static str, t: i64, f: impl FnOnce(&mut Event)) -> Event {
        let mut e = Event {
            event_id: Some(format!("{name}-{t}")),
            event_name: Some(name.into()),
            event_time: Some(t),
            account_id: Some("111122223333".into()),
            activity: Some(activity),
            ..Event::default()
        };
        f(&mut e);
        e
    }

    fn call(user: &str, t: i64, denied: bool) -> Event {
        ev("InvokeModel", "bearer_long_term", t, |e| {
            e.user_name = Some(user.into());
            e.identity_type = Some("IAMUser".into());
            e.error_code = denied.then(|| "AccessDeniedException".into());
            e.aws_region = Some("us-east-1".into());
        })
    }

    #[test]
    fn a_key_follows_its_lifecycle_and_counts_its_use() {
        let events = vec![
            ev("CreateServiceSpecificCredential", "key_created", 1, |e| {
                e.target_user = Some("BedrockAPIKey-x7k2".into());
                e.credential_id = Some("ACCA1".into());
                e.credential_age_days = Some(30);
                e.credential_expiration = Some(30 * 86_400_000_000 + 1);
                e.principal_arn = Some("arn:aws:iam::111122223333:user/alice".into());
            }),
            call("BedrockAPIKey-x7k2", 2, false),
            call("BedrockAPIKey-x7k2", 3, true),
            ev("ResetServiceSpecificCredential", "key_reset", 4, |e| {
                e.credential_id = Some("ACCA1".into());
                e.target_user = Some("BedrockAPIKey-x7k2".into());
            }),
            ev(
                "UpdateServiceSpecificCredential",
                "key_status_changed",
                5,
                |e| {
                    e.credential_id = Some("ACCA1".into());
                    e.credential_status = Some("Inactive".into());
                },
            ),
        ];
        let inv = build(&events);
        assert_eq!(inv.long_term.len(), 1);
        let k = &inv.long_term[0];
        assert_eq!(k.status, "Inactive");
        assert_eq!((k.status_since, k.last_reset), (Some(5), Some(4)));
        assert_eq!((k.usage.calls_ok, k.usage.calls_denied), (1, 1));
        assert_eq!(
            k.created_by.as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        assert_eq!(k.event_ids.len(), 5);
    }

    #[test]
    fn a_key_used_but_created_outside_the_logs_still_appears() {
        let inv = build(&[call("BedrockAPIKey-zz99", 7, false)]);
        let k = &inv.long_term[0];
        assert_eq!(k.credential_id, None);
        assert_eq!(k.created_at, None);
        assert_eq!(k.status, "unknown");
        assert_eq!(k.usage.calls(), 1);
    }

    #[test]
    fn calls_of_a_user_with_two_keys_are_marked_shared() {
        let mk = |id: &str, t| {
            ev("CreateServiceSpecificCredential", "key_created", t, |e| {
                e.target_user = Some("u".into());
                e.credential_id = Some(id.into());
            })
        };
        let inv = build(&[mk("ACCA1", 1), mk("ACCA2", 2), call("u", 3, false)]);
        assert!(inv.long_term.iter().all(|k| k.usage.calls() == 1));
        assert!(inv.long_term[0].use_attribution.contains("shared with 1"));
    }

    #[test]
    fn short_term_use_is_grouped_by_signing_role() {
        let st = |akid: &str, t| {
            ev("Converse", "bearer_short_term", t, |e| {
                e.session_issuer_arn = Some("arn:aws:iam::111122223333:role/app".into());
                e.access_key_id = Some(akid.into());
            })
        };
        let inv = build(&[st("ASIA1", 1), st("ASIA2", 2)]);
        assert_eq!(inv.short_term.len(), 1);
        assert_eq!(inv.short_term[0].access_key_ids.len(), 2);
        assert_eq!(inv.short_term[0].usage.calls(), 2);
    }
}
