//! `keytrail rules list|lint`: show the rules, or check rule files.

use std::io::Write;

use anyhow::{Result, bail};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::Outcome;
use super::scan::collect_rules;
use crate::cli::RulesCommand;
use crate::rules::{self, lint};

/// Dispatches `rules list` and `rules lint`.
pub fn run(cmd: &RulesCommand, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    match cmd {
        RulesCommand::List { queries, .. } => list(&collect_rules(queries)?, out),
        RulesCommand::Lint { dir, .. } => lint_rules(dir.as_deref(), out, err),
    }
}

/// Prints a table of rules.
fn list(rules: &[rules::Rule], out: &mut dyn Write) -> Result<Outcome> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(vec!["id", "severity", "title", "mitre", "origin"]);
    for r in rules {
        t.add_row(vec![
            r.id.clone(),
            r.severity.as_str().into(),
            r.title.clone(),
            r.mitre.join(", "),
            r.origin.clone(),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(Outcome::default())
}

/// Lints every rule in `dir` (or the built-ins); each broken file is named with why.
fn lint_rules(
    dir: Option<&std::path::Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
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
    if broken > 0 {
        writeln!(
            err,
            "keytrail: {broken} of {} rule files are broken",
            entries.len()
        )?;
        bail!(LintFailed(broken));
    }
    writeln!(out, "{} rule files ok", entries.len())?;
    Ok(Outcome::default())
}

/// `rules lint` found broken files (exit code 1, not a fatal error).
#[derive(Debug, thiserror::Error)]
#[error("{0} broken rule files")]
pub struct LintFailed(pub usize);
