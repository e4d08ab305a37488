//! `keytrail scan`: run every rule over the events and report findings.

use std::io::Write;

use anyhow::{Context, Result, bail};

use super::{Outcome, load};
use crate::cli::ScanArgs;
use crate::findings::Finding;
use crate::output::{self, Format};
use crate::rules::{self, Rule, engine};
use crate::table::events_frame;

/// Collects the built-in rules and those in `--queries` dirs; a broken file is fatal.
pub fn collect_rules(dirs: &[std::path::PathBuf]) -> Result<Vec<Rule>> {
    let mut all = rules::builtin_rules();
    for d in dirs {
        for (name, r) in
            rules::load_dir(d).with_context(|| format!("reading rules from {}", d.display()))?
        {
            match r {
                Ok(rule) => {
                    if all.iter().any(|x| x.id == rule.id) {
                        bail!(
                            "{name}: rule id {:?} is already defined; ids must be unique",
                            rule.id
                        );
                    }
                    all.push(rule)
                }
                Err(e) => bail!("{name}: {e} (run `keytrail rules lint {}`)", d.display()),
            }
        }
    }
    Ok(all)
}

/// Runs the scan and writes findings.
pub fn run(a: &ScanArgs, err: &mut dyn Write) -> Result<Outcome> {
    let rules = collect_rules(&a.queries)?;
    let ingested = load(&a.input, err)?;
    let df = events_frame(&ingested.events).context("building the events table")?;
    let mut findings: Vec<Finding> = Vec::new();
    for rule in &rules {
        findings.extend(engine::run_rule(rule, &df)?);
    }
    let mut w = output::open_output(a.input.output.as_deref()).context("opening output")?;
    output::write_findings(&mut *w, a.input.format, &findings, &ingested.summary)?;
    w.flush()?;
    if a.input.format != Format::Table {
        writeln!(
            err,
            "{}; {} findings",
            output::summary_line(&ingested.summary),
            findings.len()
        )?;
    }
    Ok(Outcome {
        findings_hit: a
            .fail_on
            .is_some_and(|s| findings.iter().any(|f| f.severity >= s)),
        partial: !ingested.summary.inputs_skipped.is_empty(),
        ..Outcome::default()
    })
}
