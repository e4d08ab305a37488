//! `keytrail remediate`: the steps that revoke a compromised key, filled in from the key
//! and, when logs are given, from what they show (credential id, signing role). Printed,
//! never run.

use std::io::Write;

use anyhow::{Context, Result, bail};

use super::decode::token_arg;
use super::{Outcome, ensure_read, ingest_options, load_with};
use crate::cli::{InputArgs, RemediateArgs};
use crate::event::Event;
use crate::keys::account::account_from_key_id;
use crate::keys::inventory;
use crate::keys::remediate::{self, LongTermTarget, Plan, ShortTermTarget};
use crate::keys::token::Decoded;
use crate::output::{self, forensics};
use crate::pipeline::Keywords;
use crate::sources::lookup::LookupPlan;

/// What the logs say about the key, read only when inputs are given, and whether some of
/// them could not be read. Logs that could not be read at all leave the plan to the key
/// alone (said on stderr, exit code 3), since the plan is still the one to follow.
fn read_logs(
    a: &RemediateArgs,
    words: &[String],
    err: &mut dyn Write,
) -> Result<(Vec<Event>, bool)> {
    if a.paths.is_empty() {
        return Ok((Vec::new(), false));
    }
    let input = InputArgs {
        paths: a.paths.clone(),
        since: None,
        until: None,
        all_events: false,
        memory_limit: "512M".into(),
        no_redact: false,
        shard: None,
        aws: a.aws.clone(),
        keep_raw: false,
    };
    let mut opts = ingest_options(&input, a.out.output.as_deref())?;
    opts.also_keep = Keywords::new(words);
    let ingested = load_with(&input, &LookupPlan::Relevant, &opts, a.out.quiet, err)?;
    if let Err(e) = ensure_read(&ingested, &input.paths) {
        writeln!(
            err,
            "keytrail: {e}; the plan below is filled in from the key alone"
        )?;
        return Ok((Vec::new(), true));
    }
    let partial = !ingested.summary.inputs_skipped.is_empty();
    Ok((ingested.table.to_events()?, partial))
}

/// Fills a long-term target from the inventory: the key the token decodes to (by service
/// user name), else the user's only key.
fn long_term_target(mut t: LongTermTarget, events: &[Event]) -> LongTermTarget {
    let inv = inventory::build(events);
    let mine: Vec<_> = inv
        .long_term
        .iter()
        .filter(|k| {
            k.user_name == t.user_name
                && (t.account_id.is_none()
                    || k.account_id.is_none()
                    || k.account_id == t.account_id)
                && (t.credential_id.is_none() || k.credential_id == t.credential_id)
        })
        .collect();
    let exact = mine
        .iter()
        .find(|k| k.service_user_name.is_some() && k.service_user_name == t.service_user_name);
    let chosen = exact.copied().or(match mine.as_slice() {
        [one] => Some(*one),
        _ => None,
    });
    if let Some(k) = chosen {
        t.credential_id = t.credential_id.or(k.credential_id.clone());
        t.status = Some(k.status.clone()).filter(|s| s != "unknown");
        t.account_id = t.account_id.or(k.account_id.clone());
    }
    t
}

/// The ARN behind an access key in the logs: the session issuer (role), else the caller.
fn signer_of(access_key_id: &str, events: &[Event]) -> Option<String> {
    events
        .iter()
        .filter(|e| e.access_key_id.as_deref() == Some(access_key_id))
        .find_map(|e| e.session_issuer_arn.clone().or(e.principal_arn.clone()))
}

/// Builds the plan and prints it (to stdout or `--output FILE`).
pub fn run(a: &RemediateArgs, err: &mut dyn Write) -> Result<Outcome> {
    let now = chrono::Utc::now().timestamp_micros();
    let token = token_arg(a.key.token.as_deref(), a.key.token_file.as_deref())?;
    let partial;
    let plan: Plan = match (&token, &a.key.user, &a.key.access_key_id) {
        (Some(t), _, _) => match &t.decoded {
            Decoded::LongTerm(k) => {
                let (events, p) = read_logs(a, std::slice::from_ref(&k.user_name), err)?;
                partial = p;
                let target = LongTermTarget {
                    user_name: k.user_name.clone(),
                    account_id: Some(k.account_id.clone()),
                    service_user_name: Some(k.service_user_name.clone()),
                    credential_id: None,
                    status: None,
                };
                remediate::long_term(&long_term_target(target, &events))
            }
            Decoded::ShortTerm(k) => {
                let (events, p) = read_logs(a, std::slice::from_ref(&k.access_key_id), err)?;
                partial = p;
                remediate::short_term(&ShortTermTarget {
                    access_key_id: k.access_key_id.clone(),
                    account_id: t.account_id(),
                    signer_arn: signer_of(&k.access_key_id, &events),
                    key: Some(k.clone()),
                    now,
                })
            }
        },
        (None, Some(user), _) => {
            let (events, p) = read_logs(a, std::slice::from_ref(user), err)?;
            partial = p;
            let target = LongTermTarget {
                user_name: user.trim().to_string(),
                credential_id: a.credential_id.clone(),
                ..LongTermTarget::default()
            };
            remediate::long_term(&long_term_target(target, &events))
        }
        (None, None, Some(akid)) => {
            let (events, p) = read_logs(a, std::slice::from_ref(akid), err)?;
            partial = p;
            remediate::short_term(&ShortTermTarget {
                access_key_id: akid.trim().to_string(),
                key: None,
                account_id: account_from_key_id(akid.trim()).ok(),
                signer_arn: signer_of(akid.trim(), &events),
                now,
            })
        }
        (None, None, None) => {
            bail!("name the key: --token, --token-file, --user or --access-key-id")
        }
    };
    let mut out = output::open_output(a.out.output.as_deref()).context("opening output")?;
    forensics::write_plan(&mut *out, a.format, &plan)?;
    out.flush()?;
    Ok(Outcome {
        partial,
        ..Outcome::default()
    })
}
