//! `keytrail rules list|lint|test`: show the rules, check rule files, or run rules against
//! their test cases.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::Outcome;
use super::scan::collect_rules;
use crate::cli::RulesCommand;
use crate::rules::cases::{self, CASES_SUFFIX, CaseResult};
use crate::rules::{self, CompiledRule, lint};

/// Dispatches `rules list`, `rules lint` and `rules test`.
pub fn run(cmd: &RulesCommand, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    match cmd {
        RulesCommand::List { queries, .. } => list(&collect_rules(queries, &[])?, out),
        RulesCommand::Lint { dir, .. } => lint_rules(dir.as_deref(), out, err),
        RulesCommand::Test { dir, .. } => test_rules(dir.as_deref(), out, err),
    }
}

/// Prints a table of rules with their detection and parameters.
fn list(rules: &[CompiledRule], out: &mut dyn Write) -> Result<Outcome> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(vec![
        "id",
        "severity",
        "title",
        "detection",
        "parameters (default)",
        "mitre",
        "origin",
    ]);
    for r in rules {
        let params = r
            .params
            .iter()
            .map(|p| match &p.doc {
                Some(d) => format!("{} = {}: {d}", p.name, p.default),
                None => format!("{} = {}", p.name, p.default),
            })
            .collect::<Vec<_>>()
            .join("\n");
        t.add_row(vec![
            r.id.clone(),
            r.severity.as_str().into(),
            r.title.clone(),
            r.detection.describe(),
            params,
            r.mitre.join(", "),
            r.origin.clone(),
        ]);
    }
    writeln!(out, "{t}")?;
    writeln!(
        out,
        "Set a parameter with --set RULE.PARAM=VALUE (scan, investigate) or [params.RULE] in the job's configuration."
    )?;
    Ok(Outcome::default())
}

/// Lints every rule in `dir` (or the built-ins), and the test-case files beside them; each
/// broken file is named with why.
fn lint_rules(dir: Option<&Path>, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let entries: Vec<(String, Result<rules::Rule, rules::RuleError>)> = match dir {
        Some(d) => rules::load_dir(d)?,
        None => rules::builtin_rules()
            .into_iter()
            .map(|r| (r.origin.clone(), Ok(r)))
            .collect(),
    };
    if entries.is_empty() {
        bail!(
            "no *.sql rule files found in {}",
            dir.map(|d| d.display().to_string()).unwrap_or_default()
        );
    }
    let mut broken = 0;
    let mut ids = std::collections::HashSet::new();
    for (name, r) in &entries {
        let verdict = r.as_ref().map_err(|e| e.to_string()).and_then(|rule| {
            if !ids.insert(rule.id.clone()) {
                return Err(format!("duplicate rule id {:?}", rule.id));
            }
            lint::check_rule(rule)
        });
        match verdict {
            Ok(()) => writeln!(out, "ok      {name}")?,
            Err(e) => {
                broken += 1;
                writeln!(out, "broken  {name}: {e}")?;
            }
        }
    }
    if let Some(d) = dir {
        for (name, problem) in case_file_problems(d)? {
            broken += 1;
            writeln!(out, "broken  {name}: {problem}")?;
        }
    }
    if broken > 0 {
        writeln!(err, "keytrail: {broken} rule or test-case files are broken")?;
        bail!(LintFailed(broken));
    }
    writeln!(out, "{} rule files ok", entries.len())?;
    Ok(Outcome::default())
}

/// Test-case files in `dir` that do not parse, or have no rule beside them.
fn case_file_problems(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|p| p.to_string_lossy().ends_with(CASES_SUFFIX))
        .collect();
    paths.sort();
    for p in paths {
        let name = p.display().to_string();
        let rule = name.trim_end_matches(CASES_SUFFIX).to_string() + ".sql";
        if !Path::new(&rule).exists() {
            out.push((name, format!("no rule file {rule} beside it")));
            continue;
        }
        match std::fs::read_to_string(&p) {
            Ok(t) => {
                if let Err(e) = cases::parse_cases(&t) {
                    out.push((name, e));
                }
            }
            Err(e) => out.push((name, format!("cannot read: {e}"))),
        }
    }
    Ok(out)
}

/// Runs the rules of `dir` (or the built-ins) against their test cases; exit 1 when a
/// case fails.
fn test_rules(dir: Option<&Path>, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let mut results: Vec<CaseResult> = Vec::new();
    let mut without: Vec<String> = Vec::new();
    match dir {
        None => {
            for (rule, text) in cases::builtin() {
                match text {
                    Some(t) => results.extend(cases::run_file(&rule, t)),
                    None => without.push(rule.id.clone()),
                }
            }
        }
        Some(d) => {
            let entries = cases::load_dir(d)?;
            if entries.is_empty() {
                bail!("no *.sql rule files found in {}", d.display());
            }
            for (name, entry) in entries {
                match entry {
                    Ok((rule, Some(t))) => results.extend(cases::run_file(&rule, &t)),
                    Ok((rule, None)) => without.push(rule.id.clone()),
                    Err(e) => bail!("{name}: {e} (run `keytrail rules lint {}`)", d.display()),
                }
            }
        }
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    for r in &results {
        if r.passed() {
            writeln!(out, "ok      {}: {}", r.rule, r.case)?;
        } else {
            for f in &r.failures {
                writeln!(out, "FAILED  {}: {}: {f}", r.rule, r.case)?;
            }
        }
    }
    for id in &without {
        writeln!(out, "none    {id}: no {id}{CASES_SUFFIX} beside the rule")?;
    }
    writeln!(
        out,
        "{} cases: {} passed, {failed} failed; {} rules without cases",
        results.len(),
        results.len() - failed,
        without.len()
    )?;
    if failed > 0 {
        writeln!(err, "keytrail: {failed} rule test cases failed")?;
    }
    Ok(Outcome {
        findings_hit: failed > 0,
        ..Outcome::default()
    })
}

/// `rules lint` found broken files (exit code 1, not a fatal error).
#[derive(Debug, thiserror::Error)]
#[error("{0} broken rule files")]
pub struct LintFailed(pub usize);
