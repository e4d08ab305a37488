//! `keytrail scan`: run every rule over the events, report findings, and with `--export`
//! deliver them to a SIEM too.
//!
//! Where things go: the report (`--format`) goes to stdout, or to `--output FILE`. The
//! file exports (`ndjson`, `ocsf`) take `--output FILE` for themselves and the report
//! stays on stdout; without `--output` the export is written to stdout instead of the
//! report. The network exports (`splunk-hec`, `ecs`, `cef`) leave the report where it was.
//! Each export ends with a line on stderr saying what was delivered; what was not is
//! named there with the reason, and the exit code is 5.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Outcome, load};
use crate::cli::{ExportArgs, ExportFormat, ScanArgs};
use crate::findings::Finding;
use crate::keys::inventory;
use crate::output::term::Screen;
use crate::output::{self, Format, html, report};
use crate::rules::{self, CompiledRule, engine};
use crate::sinks::elastic::{ElasticAuth, ElasticConfig};
use crate::sinks::file::FileFormat;
use crate::sinks::hec::{self, HecConfig};
use crate::sinks::secret::SecretSource;
use crate::sinks::{self, Delivery, Evidence, ExportContext, RetryPolicy, SinkSpec, syslog};

/// Finding ids named per failed export at most.
const NAMED_FAILURES: usize = 10;

/// Collects the built-in rules and those in `--queries` dirs, with the `--set` parameter
/// values; a broken file or an unknown `--set` target is fatal.
pub fn collect_rules(dirs: &[std::path::PathBuf], set: &[String]) -> Result<Vec<CompiledRule>> {
    Ok(rules::collect(dirs, set)?)
}

/// Keeps the rules `--rule` names (all when none) at or above `--min-severity`; an unknown
/// id is an error that lists the known ones.
pub fn select_rules(
    all: Vec<CompiledRule>,
    ids: &[String],
    min: Option<crate::rules::Severity>,
) -> Result<Vec<CompiledRule>> {
    for id in ids {
        if !all.iter().any(|r| &r.id == id) {
            let known: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
            bail!(
                "--rule {id}: no such rule; known rules: {}",
                known.join(", ")
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|r| ids.is_empty() || ids.contains(&r.id))
        .filter(|r| min.is_none_or(|m| r.severity >= m))
        .collect())
}

/// What `--rule` and `--min-severity` leave out, said under the headline.
fn filter_note(a: &ScanArgs) -> Option<String> {
    let mut parts = Vec::new();
    if !a.rules.is_empty() {
        parts.push(format!("only rules {}", a.rules.join(", ")));
    }
    if let Some(m) = a.min_severity {
        parts.push(format!("only severity {} and above", m.as_str()));
    }
    (!parts.is_empty()).then(|| format!("Filtered: {}.", parts.join("; ")))
}

/// One `--stats` line: what was done, how long it took, and the process's resident memory
/// now and at its peak (Linux).
fn write_stat(err: &mut dyn Write, what: &str, took: Duration) -> std::io::Result<()> {
    let memory = match process_memory() {
        Some((rss, peak)) => format!("; resident {} MB, peak {} MB", rss >> 10, peak >> 10),
        None => String::new(),
    };
    writeln!(
        err,
        "keytrail: stats: {what} in {:.2} s{memory}",
        took.as_secs_f64()
    )
}

/// The process's resident memory and its peak so far, in KiB (`VmRSS`, `VmHWM` of
/// /proc/self/status); None where that file does not exist.
fn process_memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Runs the scan, writes findings, and delivers them when `--export` asks.
pub fn run(a: &ScanArgs, err: &mut dyn Write) -> Result<Outcome> {
    let format = Format::from(a.format);
    let rules = select_rules(collect_rules(&a.queries, &a.set)?, &a.rules, a.min_severity)?;
    let export = export_spec(&a.export, a.out.output.as_deref())?;
    if a.input.no_redact && export.is_some() {
        bail!(
            "--no-redact keeps secrets found in the records: it cannot be used with --export (write the report to --output FILE instead)"
        );
    }
    let retry = RetryPolicy::from_settings(Some(a.export.retries), Some(&a.export.retry_delay))
        .map_err(anyhow::Error::msg)
        .context("--retry-delay")?;
    let ctx = ExportContext::now();
    // Set up the destination first: a missing token should not wait for a long read.
    let sink = match &export {
        Some(Export::Sink(spec)) => Some(sinks::build(spec, None, ctx.clone(), retry)?),
        _ => None,
    };
    let mut input = a.input.clone();
    input.keep_raw = export.is_some();
    let started = Instant::now();
    let ingested = load(&input, &a.out, err)?;
    if a.stats {
        let what = format!("read {} events", ingested.table.len());
        write_stat(err, &what, started.elapsed())?;
    }
    let mut findings: Vec<Finding> = Vec::new();
    for rule in &rules {
        let began = Instant::now();
        let found = engine::run_rule(rule, &ingested.table)?;
        if a.stats {
            let what = format!("rule {}: {} findings", rule.id, found.len());
            write_stat(err, &what, began.elapsed())?;
        }
        findings.extend(found);
    }
    if a.stats {
        write_stat(err, "read and all rules", started.elapsed())?;
    }
    let people = matches!(format, Format::Table | Format::Html);
    let evidence_events = if export.is_some() || people {
        ingested
            .table
            .events_by_id(&sinks::evidence_ids(&findings))?
    } else {
        Vec::new()
    };
    let evidence = Evidence::new(&evidence_events);
    let mut delivery_failed = false;
    match &export {
        Some(Export::Stdout(format)) => {
            let mut w = output::open_output(None).context("opening stdout")?;
            sinks::file::write(&mut *w, *format, &findings, &evidence, &ctx)?;
            w.flush()?;
        }
        other => {
            let report_to = match other {
                Some(Export::Sink(SinkSpec::File { .. })) => None,
                _ => a.out.output.as_deref(),
            };
            let screen = Screen::detect(a.out.color, report_to.is_some());
            let mut w = output::open_output(report_to).context("opening output")?;
            let times = finding_times(&findings, &evidence);
            let note = filter_note(a);
            match format {
                Format::Table => report::write_scan_table(
                    &mut *w,
                    &findings,
                    &times,
                    &ingested.summary,
                    note.as_deref(),
                    &screen,
                )?,
                Format::Html => {
                    let events = relevant_events(&ingested.table)?;
                    let timelines = html::key_timelines(&inventory::build(&events), &events);
                    let info = html::PageInfo {
                        version: crate::cli::VERSION,
                        generated_at: chrono::Utc::now().timestamp_micros(),
                        inputs: &a.input.paths,
                        filters: note.as_deref(),
                    };
                    html::write_report(
                        &mut *w,
                        &findings,
                        &times,
                        &ingested.summary,
                        &timelines,
                        &info,
                    )?
                }
                _ => output::write_findings(&mut *w, format, &findings, &ingested.summary)?,
            }
            w.flush()?;
        }
    }
    let report_on_stdout = a.out.output.is_none() && format == Format::Table;
    if !a.out.quiet && (!report_on_stdout || matches!(export, Some(Export::Stdout(_)))) {
        writeln!(
            err,
            "{}; {} findings",
            output::summary_line(&ingested.summary),
            findings.len()
        )?;
    }
    if let Some(sink) = &sink {
        let mut status = sinks::StatusLines { out: &mut *err };
        let d = super::runtime()?.block_on(sink.send(&findings, &evidence, &mut status));
        delivery_failed = !report_delivery(err, sink.name(), &findings, &d)?;
    }
    Ok(Outcome {
        findings_hit: a
            .fail_on
            .is_some_and(|s| findings.iter().any(|f| f.severity >= s)),
        partial: !ingested.summary.inputs_skipped.is_empty(),
        delivery_failed,
    })
}

/// The first and last evidence event time of each finding.
fn finding_times(findings: &[Finding], evidence: &Evidence) -> report::FindingTimes {
    findings
        .iter()
        .filter_map(|f| sinks::seen_range(&evidence.of(f)).map(|r| (f.finding_id.clone(), r)))
        .collect()
}

/// The events with a key activity (creation, lifecycle, bearer use), walked batch by batch:
/// what the key inventory and the per-key plots are built from.
fn relevant_events(table: &crate::table::EventTable) -> Result<Vec<crate::event::Event>> {
    let mut out = Vec::new();
    for batch in table.batches() {
        out.extend(batch?.into_iter().filter(|e| e.activity.is_some()));
    }
    Ok(out)
}

/// Where `--export` sends findings.
enum Export {
    /// A file format without `--output`: the export replaces the report on stdout.
    Stdout(FileFormat),
    /// A file or a network destination.
    Sink(SinkSpec),
}

/// Turns the export flags into a destination, refusing flags that do not fit the format.
fn export_spec(e: &ExportArgs, output: Option<&Path>) -> Result<Option<Export>> {
    let Some(format) = e.export else {
        if let Some(flag) = stray_flags(e).first() {
            bail!("{flag} is only used with --export");
        }
        return Ok(None);
    };
    let owner = |flag: &str| -> Option<ExportFormat> {
        match flag {
            f if f.starts_with("--hec-") => Some(ExportFormat::SplunkHec),
            f if f.starts_with("--elastic-") || f == "--index" => Some(ExportFormat::Ecs),
            "--syslog" => Some(ExportFormat::Cef),
            _ => None,
        }
    };
    for flag in stray_flags(e) {
        if owner(flag) != Some(format) {
            bail!("{flag} does not apply to --export {}", export_name(format));
        }
    }
    let file = |f: FileFormat| match output {
        Some(p) => Export::Sink(SinkSpec::File {
            path: p.to_path_buf(),
            format: f,
            append: false,
        }),
        None => Export::Stdout(f),
    };
    Ok(Some(match format {
        ExportFormat::Ndjson => file(FileFormat::Ndjson),
        ExportFormat::Ocsf => file(FileFormat::Ocsf),
        ExportFormat::SplunkHec => Export::Sink(SinkSpec::SplunkHec(HecConfig {
            url: required(&e.hec_url, "--export splunk-hec needs --hec-url URL")?,
            token: secret_source(
                &e.hec_token_env,
                &e.hec_token_file,
                "--export splunk-hec needs the HEC token in an environment variable (--hec-token-env VAR) or a file (--hec-token-file FILE); it is never taken on the command line",
            )?,
            sourcetype: e
                .hec_sourcetype
                .clone()
                .unwrap_or_else(|| hec::DEFAULT_SOURCETYPE.into()),
            index: e.hec_index.clone(),
            batch_size: e.batch_size as usize,
        })),
        ExportFormat::Ecs => Export::Sink(SinkSpec::Elastic(ElasticConfig {
            url: required(&e.elastic_url, "--export ecs needs --elastic-url URL")?,
            index: required(
                &e.index,
                "--export ecs needs --index NAME (an index or data stream)",
            )?,
            auth: elastic_auth(e)?,
            batch_size: e.batch_size as usize,
        })),
        ExportFormat::Cef => Export::Sink(SinkSpec::Syslog(
            syslog::parse_address(&required(
                &e.syslog,
                "--export cef needs --syslog tcp://HOST:PORT or udp://HOST:PORT",
            )?)
            .map_err(anyhow::Error::msg)?,
        )),
    }))
}

/// The `--export` value as typed.
fn export_name(f: ExportFormat) -> &'static str {
    match f {
        ExportFormat::Ndjson => "ndjson",
        ExportFormat::Ocsf => "ocsf",
        ExportFormat::SplunkHec => "splunk-hec",
        ExportFormat::Ecs => "ecs",
        ExportFormat::Cef => "cef",
    }
}

/// The destination flags that were given.
fn stray_flags(e: &ExportArgs) -> Vec<&'static str> {
    let given = [
        ("--hec-url", e.hec_url.is_some()),
        ("--hec-token-env", e.hec_token_env.is_some()),
        ("--hec-token-file", e.hec_token_file.is_some()),
        ("--hec-sourcetype", e.hec_sourcetype.is_some()),
        ("--hec-index", e.hec_index.is_some()),
        ("--elastic-url", e.elastic_url.is_some()),
        ("--index", e.index.is_some()),
        ("--elastic-api-key-env", e.elastic_api_key_env.is_some()),
        ("--elastic-api-key-file", e.elastic_api_key_file.is_some()),
        ("--elastic-user", e.elastic_user.is_some()),
        ("--elastic-password-env", e.elastic_password_env.is_some()),
        ("--elastic-password-file", e.elastic_password_file.is_some()),
        ("--syslog", e.syslog.is_some()),
    ];
    given
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(f, _)| f)
        .collect()
}

/// A flag that must be there.
fn required(v: &Option<String>, why: &str) -> Result<String> {
    v.clone().ok_or_else(|| anyhow::anyhow!("{why}"))
}

/// A secret named by a variable or a file flag.
fn secret_source(env: &Option<String>, file: &Option<PathBuf>, why: &str) -> Result<SecretSource> {
    match (env, file) {
        (Some(v), None) => Ok(SecretSource::Env(v.clone())),
        (None, Some(p)) => Ok(SecretSource::File(p.clone())),
        _ => bail!("{why}"),
    }
}

/// Elasticsearch credentials from the flags (none: a cluster without security).
fn elastic_auth(e: &ExportArgs) -> Result<ElasticAuth> {
    if let Some(user) = &e.elastic_user {
        return Ok(ElasticAuth::Basic {
            user: user.clone(),
            password: secret_source(
                &e.elastic_password_env,
                &e.elastic_password_file,
                "--elastic-user needs the password in an environment variable (--elastic-password-env VAR) or a file (--elastic-password-file FILE)",
            )?,
        });
    }
    Ok(match (&e.elastic_api_key_env, &e.elastic_api_key_file) {
        (None, None) => ElasticAuth::None,
        (env, file) => ElasticAuth::ApiKey(secret_source(env, file, "give one API key source")?),
    })
}

/// Reports an export on stderr; returns true when everything was delivered.
fn report_delivery(
    err: &mut dyn Write,
    name: &str,
    findings: &[Finding],
    d: &Delivery,
) -> Result<bool> {
    if d.complete(findings.len()) {
        writeln!(
            err,
            "keytrail: {name}: {} findings delivered",
            findings.len()
        )?;
        return Ok(true);
    }
    let missing: Vec<&str> = findings
        .iter()
        .enumerate()
        .filter(|(i, _)| d.acknowledged.binary_search(i).is_err())
        .map(|(_, f)| f.finding_id.as_str())
        .collect();
    let named = missing
        .iter()
        .take(NAMED_FAILURES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = missing.len().saturating_sub(NAMED_FAILURES);
    writeln!(
        err,
        "keytrail: {name}: {} of {} findings NOT delivered: {}",
        missing.len(),
        findings.len(),
        if d.errors.is_empty() {
            "not acknowledged".to_string()
        } else {
            d.errors.join("; ")
        }
    )?;
    writeln!(
        err,
        "keytrail: not delivered: {named}{}",
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )?;
    Ok(false)
}
