//! Investigations: which events belong to a key or a principal, and the summary a
//! responder reads first (what the key is, its life, its use, the rules that fired).

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::PolarsResult;
use serde::Serialize;

use super::inventory::{self, LongTermKey, ShortTermSigner};
use super::report::TokenReport;
use super::token::{Decoded, Token};
use crate::event::Event;
use crate::findings::Finding;
use crate::sources::lookup::LookupPlan;
use crate::table::EventTable;
use crate::timefmt::ser_micros;

/// What is being investigated.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A leaked key, decoded offline.
    Token(Box<Token>),
    /// An IAM user (a key's user, or a phantom `BedrockAPIKey-` user).
    User(String),
    /// An access key id (the signer of short-term keys, or any caller).
    AccessKeyId(String),
    /// A long-term key's credential id (`ACCA...`).
    CredentialId(String),
    /// Everything from one source IP address.
    SourceIp(String),
}

/// Who the events must belong to, once the subject is resolved against the logs.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// (IAM user, account if known).
    pub users: Vec<(String, Option<String>)>,
    pub access_key_ids: Vec<String>,
    pub credential_ids: Vec<String>,
    pub source_ips: Vec<String>,
}

impl Subject {
    /// The words a record must contain to belong to the subject (read filter).
    pub fn keywords(&self) -> Vec<String> {
        match self {
            Subject::Token(t) => match &t.decoded {
                Decoded::LongTerm(k) => vec![k.user_name.clone()],
                Decoded::ShortTerm(k) => vec![k.access_key_id.clone()],
            },
            Subject::User(u) => vec![u.clone()],
            Subject::AccessKeyId(k) => vec![k.clone()],
            Subject::CredentialId(c) => vec![c.clone()],
            Subject::SourceIp(ip) => vec![ip.clone()],
        }
    }

    /// What to ask LookupEvents for: the rules' events plus the subject's own, where an
    /// attribute can name it.
    pub fn lookup_plan(&self) -> LookupPlan {
        let plus = |k: &str, v: &str| LookupPlan::RelevantPlus(k.into(), v.into());
        match self {
            Subject::Token(t) => match &t.decoded {
                Decoded::LongTerm(k) => plus("Username", &k.user_name),
                Decoded::ShortTerm(k) => plus("AccessKeyId", &k.access_key_id),
            },
            Subject::User(u) => plus("Username", u),
            Subject::AccessKeyId(k) => plus("AccessKeyId", k),
            Subject::CredentialId(_) | Subject::SourceIp(_) => LookupPlan::Relevant,
        }
    }

    /// One line saying what is investigated.
    pub fn describe(&self) -> String {
        match self {
            Subject::Token(t) => match &t.decoded {
                Decoded::LongTerm(k) => format!(
                    "long-term key {} of IAM user {} in {} ({} key)",
                    t.fingerprint,
                    k.user_name,
                    k.account_id,
                    if k.secondary { "second" } else { "first" }
                ),
                Decoded::ShortTerm(k) => format!(
                    "short-term key {} signed by {} in {}",
                    t.fingerprint, k.access_key_id, k.region
                ),
            },
            Subject::User(u) => format!("IAM user {u}"),
            Subject::AccessKeyId(k) => format!("access key id {k}"),
            Subject::CredentialId(c) => format!("credential {c}"),
            Subject::SourceIp(ip) => format!("source IP {ip}"),
        }
    }

    /// Resolves the subject against the events table, a batch at a time.
    pub fn matcher_from_table(&self, table: &EventTable) -> PolarsResult<Matcher> {
        if !matches!(self, Subject::CredentialId(_)) {
            return Ok(self.matcher(&[]));
        }
        let mut m = self.matcher(&[]);
        for batch in table.batches() {
            let more = self.matcher(&batch?);
            for u in more.users {
                if !m.users.contains(&u) {
                    m.users.push(u);
                }
            }
        }
        Ok(m)
    }

    /// Resolves the subject against the events: a credential id brings its user.
    pub fn matcher(&self, events: &[Event]) -> Matcher {
        let mut m = Matcher::default();
        match self {
            Subject::Token(t) => match &t.decoded {
                Decoded::LongTerm(k) => {
                    m.users
                        .push((k.user_name.clone(), Some(k.account_id.clone())));
                }
                Decoded::ShortTerm(k) => m.access_key_ids.push(k.access_key_id.clone()),
            },
            Subject::User(u) => m.users.push((u.clone(), None)),
            Subject::AccessKeyId(k) => m.access_key_ids.push(k.clone()),
            Subject::SourceIp(ip) => m.source_ips.push(ip.clone()),
            Subject::CredentialId(c) => {
                m.credential_ids.push(c.clone());
                let owners: BTreeSet<(String, Option<String>)> = events
                    .iter()
                    .filter(|e| e.credential_id.as_deref() == Some(c.as_str()))
                    .filter_map(|e| {
                        let u = e.target_user.clone().or_else(|| e.user_name.clone())?;
                        Some((u, e.account_id.clone()))
                    })
                    .collect();
                m.users.extend(owners);
            }
        }
        m
    }
}

impl Matcher {
    /// True when the event belongs to the subject.
    pub fn matches(&self, e: &Event) -> bool {
        let same = |a: &Option<String>, b: &str| a.as_deref() == Some(b);
        self.users.iter().any(|(u, acct)| {
            let account_ok = acct.is_none() || e.account_id.is_none() || &e.account_id == acct;
            account_ok && (acts_as_user(e, u) || same(&e.target_user, u))
        }) || self
            .access_key_ids
            .iter()
            .any(|k| same(&e.access_key_id, k))
            || self
                .credential_ids
                .iter()
                .any(|c| same(&e.credential_id, c))
            || self.source_ips.iter().any(|ip| same(&e.source_ip, ip))
    }
}

/// True when the event was made by the IAM user `user` (not by a role of the same name).
fn acts_as_user(e: &Event, user: &str) -> bool {
    let by_arn = e
        .principal_arn
        .as_deref()
        .and_then(|a| a.split_once(":user/"))
        .is_some_and(|(_, rest)| rest.rsplit('/').next() == Some(user));
    by_arn
        || (e.identity_type.as_deref() == Some("IAMUser") && e.user_name.as_deref() == Some(user))
}

/// Counts over the timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimelineSummary {
    pub events: u64,
    #[serde(serialize_with = "ser_micros")]
    pub first_event: Option<i64>,
    #[serde(serialize_with = "ser_micros")]
    pub last_event: Option<i64>,
    #[serde(serialize_with = "ser_micros")]
    pub first_use: Option<i64>,
    #[serde(serialize_with = "ser_micros")]
    pub last_use: Option<i64>,
    pub bearer_calls_ok: u64,
    pub bearer_calls_denied: u64,
    /// Events on other services than Bedrock (a phantom user's other actions).
    pub outside_bedrock: u64,
    pub errors: u64,
    pub regions: BTreeSet<String>,
    pub source_ips: BTreeSet<String>,
    pub user_agents: BTreeSet<String>,
    /// Event names and how often each occurs.
    pub event_names: BTreeMap<String, u64>,
}

/// A rule that fired on the subject's events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleHit {
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub finding_id: String,
    /// Evidence events of the finding that are in the timeline.
    pub events_in_timeline: u64,
}

/// The whole investigation (`investigate --format json`).
#[derive(Debug, Clone, Serialize)]
pub struct Investigation {
    pub schema_version: u32,
    pub subject: String,
    /// The decoded token, when one was given.
    pub token: Option<TokenReport>,
    /// The long-term keys of the subject, from the inventory.
    pub keys: Vec<LongTermKey>,
    /// Short-term key use by the subject's signing principal(s).
    pub signers: Vec<ShortTermSigner>,
    pub summary: TimelineSummary,
    pub rules_fired: Vec<RuleHit>,
    pub notes: Vec<String>,
    pub timeline: Vec<Event>,
}

/// The subject's events from the table (time order) and their summary.
pub fn timeline_from_table(
    table: &EventTable,
    m: &Matcher,
) -> PolarsResult<(Vec<Event>, TimelineSummary)> {
    let mut tl = Vec::new();
    for batch in table.batches() {
        tl.extend(batch?.into_iter().filter(|e| m.matches(e)));
    }
    Ok(summarize(tl))
}

/// The events of the timeline (time order) and their summary.
pub fn timeline(events: &[Event], m: &Matcher) -> (Vec<Event>, TimelineSummary) {
    summarize(events.iter().filter(|e| m.matches(e)).cloned().collect())
}

/// The timeline with its summary.
fn summarize(tl: Vec<Event>) -> (Vec<Event>, TimelineSummary) {
    let mut s = TimelineSummary {
        events: tl.len() as u64,
        ..TimelineSummary::default()
    };
    for e in &tl {
        if let Some(t) = e.event_time {
            s.first_event = Some(s.first_event.map_or(t, |f| f.min(t)));
            s.last_event = Some(s.last_event.map_or(t, |l| l.max(t)));
            if e.bearer_token {
                s.first_use = Some(s.first_use.map_or(t, |f| f.min(t)));
                s.last_use = Some(s.last_use.map_or(t, |l| l.max(t)));
            }
        }
        match (e.bearer_token, e.error_code.is_some()) {
            (true, false) => s.bearer_calls_ok += 1,
            (true, true) => s.bearer_calls_denied += 1,
            _ => {}
        }
        s.errors += u64::from(e.error_code.is_some());
        if !e
            .event_source
            .as_deref()
            .is_some_and(|x| x.starts_with("bedrock"))
        {
            s.outside_bedrock += 1;
        }
        for (set, v) in [
            (&mut s.regions, &e.aws_region),
            (&mut s.source_ips, &e.source_ip),
            (&mut s.user_agents, &e.user_agent),
        ] {
            if let Some(v) = v {
                set.insert(v.clone());
            }
        }
        *s.event_names
            .entry(e.event_name.clone().unwrap_or_default())
            .or_default() += 1;
    }
    (tl, s)
}

/// The inventory rows that belong to the subject: for a long-term token the key whose
/// service user name it decodes to (else its user's keys); for others, by user or key id.
pub fn related_keys(
    subject: &Subject,
    m: &Matcher,
    inv: &inventory::Inventory,
) -> (Vec<LongTermKey>, Vec<ShortTermSigner>) {
    let by_user = |k: &LongTermKey| {
        m.users.iter().any(|(u, acct)| {
            &k.user_name == u && (acct.is_none() || k.account_id.is_none() || &k.account_id == acct)
        })
    };
    let mut keys: Vec<LongTermKey> = inv
        .long_term
        .iter()
        .filter(|k| {
            by_user(k)
                || k.credential_id
                    .as_ref()
                    .is_some_and(|c| m.credential_ids.contains(c))
        })
        .cloned()
        .collect();
    if let Subject::Token(t) = subject
        && let Decoded::LongTerm(lt) = &t.decoded
    {
        let exact: Vec<LongTermKey> = keys
            .iter()
            .filter(|k| k.service_user_name.as_deref() == Some(lt.service_user_name.as_str()))
            .cloned()
            .collect();
        if !exact.is_empty() {
            keys = exact;
        }
    }
    let signers = inv
        .short_term
        .iter()
        .filter(|s| {
            s.access_key_ids
                .iter()
                .any(|k| m.access_key_ids.contains(k))
        })
        .cloned()
        .collect();
    (keys, signers)
}

/// The findings whose evidence includes timeline events, most severe first.
pub fn rules_fired(findings: &[Finding], timeline: &[Event]) -> Vec<RuleHit> {
    let ids: BTreeSet<&str> = timeline
        .iter()
        .filter_map(|e| e.event_id.as_deref())
        .collect();
    let mut hits: Vec<(crate::rules::Severity, RuleHit)> = findings
        .iter()
        .filter_map(|f| {
            let n = f
                .evidence_event_ids
                .iter()
                .filter(|id| ids.contains(id))
                .count() as u64;
            (n > 0).then(|| {
                (
                    f.severity,
                    RuleHit {
                        rule_id: f.rule_id.clone(),
                        severity: f.severity.as_str().to_string(),
                        title: f.title.clone(),
                        finding_id: f.finding_id.clone(),
                        events_in_timeline: n,
                    },
                )
            })
        })
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.rule_id.cmp(&b.1.rule_id)));
    hits.into_iter().map(|(_, h)| h).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(f: impl FnOnce(&mut Event)) -> Event {
        let mut e = Event {
            account_id: Some("111122223333".into()),
            ..Event::default()
        };
        f(&mut e);
        e
    }

    #[test]
    fn a_user_matches_its_own_calls_and_changes_to_it_not_a_role_of_that_name() {
        let m = Subject::User("ci-bot".into()).matcher(&[]);
        let own = ev(|e| {
            e.identity_type = Some("IAMUser".into());
            e.user_name = Some("ci-bot".into());
        });
        let on_it = ev(|e| e.target_user = Some("ci-bot".into()));
        let role = ev(|e| {
            e.identity_type = Some("AssumedRole".into());
            e.user_name = Some("ci-bot".into());
            e.principal_arn = Some("arn:aws:sts::111122223333:assumed-role/ci-bot/s".into());
        });
        assert!(m.matches(&own) && m.matches(&on_it));
        assert!(!m.matches(&role));
    }

    #[test]
    fn a_credential_id_brings_in_its_user() {
        let create = ev(|e| {
            e.credential_id = Some("ACCA1".into());
            e.target_user = Some("BedrockAPIKey-ab12".into());
        });
        let m = Subject::CredentialId("ACCA1".into()).matcher(std::slice::from_ref(&create));
        let call = ev(|e| {
            e.identity_type = Some("IAMUser".into());
            e.user_name = Some("BedrockAPIKey-ab12".into());
        });
        assert!(m.matches(&create) && m.matches(&call));
    }
}
