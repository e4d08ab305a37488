//! `keytrail investigate`: every event of a key or principal, as a timeline with a header
//! that says what the key is, its life and use, and which rules fired on these events.

use std::io::Write;

use anyhow::{Context, Result};

use super::decode::token_arg;
use super::scan::collect_rules;
use super::{Outcome, ensure_read, ingest_options, load_with, screen};
use crate::cli::{InvestigateArgs, SubjectArgs};
use crate::keys::investigate::{self, Investigation, Subject};
use crate::keys::report::TokenReport;
use crate::keys::{inventory, token::Decoded};
use crate::output::{self, forensics};
use crate::pipeline::Keywords;
use crate::rules::engine;
use crate::sources::Spec;

/// The subject named by the flags.
pub fn subject(a: &SubjectArgs) -> Result<Subject> {
    if let Some(t) = token_arg(a.token.as_deref(), a.token_file.as_deref())? {
        return Ok(Subject::Token(Box::new(t)));
    }
    let trimmed = |s: &String| s.trim().to_string();
    Ok(if let Some(u) = &a.user {
        Subject::User(trimmed(u))
    } else if let Some(k) = &a.access_key_id {
        Subject::AccessKeyId(trimmed(k))
    } else if let Some(c) = &a.credential_id {
        Subject::CredentialId(trimmed(c))
    } else if let Some(ip) = &a.source_ip {
        Subject::SourceIp(trimmed(ip))
    } else {
        anyhow::bail!(
            "name what to investigate: --token, --user, --access-key-id, --credential-id or --source-ip"
        )
    })
}

/// Runs the investigation and writes it.
pub fn run(a: &InvestigateArgs, err: &mut dyn Write) -> Result<Outcome> {
    let subject = subject(&a.subject)?;
    let rules = collect_rules(&a.queries, &a.set)?;
    let mut input = a.input.clone();
    // A credential id is not in its user's other records: read every event.
    input.all_events |= matches!(subject, Subject::CredentialId(_));
    let mut opts = ingest_options(&input, a.out.output.as_deref())?;
    opts.also_keep = Keywords::new(&subject.keywords());
    let ingested = load_with(&input, &subject.lookup_plan(), &opts, a.out.quiet, err)?;
    ensure_read(&ingested, &input.paths)?;
    let mut findings = Vec::new();
    for r in &rules {
        findings.extend(engine::run_rule(r, &ingested.table)?);
    }
    let matcher = subject.matcher_from_table(&ingested.table)?;
    let (timeline, summary) = investigate::timeline_from_table(&ingested.table, &matcher)?;
    let inv = inventory::build_from_table(&ingested.table)?;
    let (keys, signers) = investigate::related_keys(&subject, &matcher, &inv);
    let now = chrono::Utc::now().timestamp_micros();
    let report = Investigation {
        schema_version: forensics::FORENSICS_SCHEMA_VERSION,
        subject: subject.describe(),
        token: match &subject {
            Subject::Token(t) => Some(TokenReport::new(t, now)),
            _ => None,
        },
        rules_fired: investigate::rules_fired(&findings, &timeline),
        notes: notes(&subject, &a.input.paths, timeline.is_empty()),
        keys,
        signers,
        summary,
        timeline,
    };
    let mut w = output::open_output(a.out.output.as_deref()).context("opening output")?;
    forensics::write_investigation(&mut *w, a.format, &report, &screen(&a.out))?;
    w.flush()?;
    if !a.out.quiet {
        writeln!(err, "{}", output::summary_line(&ingested.summary))?;
    }
    Ok(Outcome {
        partial: !ingested.summary.inputs_skipped.is_empty(),
        ..Outcome::default()
    })
}

/// Caveats for the reader: what a source could not see, an empty timeline.
fn notes(subject: &Subject, paths: &[String], empty: bool) -> Vec<String> {
    let mut n = Vec::new();
    let lookup = paths
        .iter()
        .any(|p| matches!(Spec::parse(p), Ok(Spec::Lookup(_))));
    if lookup && matches!(subject, Subject::CredentialId(_) | Subject::SourceIp(_)) {
        n.push("LookupEvents cannot ask by credential id or source IP: from lookup: inputs only the Bedrock-relevant events were read".into());
    }
    if let Subject::Token(t) = subject
        && let Decoded::ShortTerm(k) = &t.decoded
    {
        n.push(format!(
            "a short-term key is matched by its signing access key id {}: the timeline holds everything those credentials did, with or without the key",
            k.access_key_id
        ));
    }
    if empty {
        n.push("no event of the subject was found in the inputs read (check the time window, the account and the inputs)".into());
    }
    n
}
