//! The `keytrail` binary: parse arguments, dispatch, turn the outcome into an exit code.

use clap::Parser;
use keytrail::cli::{Cli, Command};
use keytrail::commands::{self, rules::LintFailed};
use keytrail::exit;

fn main() {
    let cli = Cli::parse();
    // Unlocked: the progress bar draws to stderr from worker threads, so holding the lock
    // for the whole run deadlocks as soon as the bar appears (more than 20 files).
    let mut err = std::io::stderr();
    let result = match &cli.command {
        Command::Scan(a) => commands::scan::run(a, &mut err),
        Command::Events(a) => commands::events::run(a, &mut err),
        Command::Query(a) => commands::query::run(a, &mut err),
        Command::Decode(a) => commands::decode::run(a, &mut std::io::stdout().lock(), &mut err),
        Command::Keys(a) => commands::keys::run(a, &mut err),
        Command::Investigate(a) => commands::investigate::run(a, &mut err),
        Command::Remediate(a) => {
            commands::remediate::run(a, &mut std::io::stdout().lock(), &mut err)
        }
        Command::Run(a) => commands::run::run(a, &mut std::io::stdout().lock(), &mut err),
        Command::Doctor(a) => commands::doctor::run(a, &mut std::io::stdout().lock(), &mut err),
        Command::Rules(c) => commands::rules::run(c, &mut std::io::stdout().lock(), &mut err),
    };
    let code = match result {
        Ok(outcome) => exit::code(outcome),
        Err(e) if exit::is_broken_pipe(&e) => exit::CLEAN,
        Err(e) if e.downcast_ref::<LintFailed>().is_some() => exit::FINDINGS,
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(err, "keytrail: error: {e:#}");
            exit::FATAL
        }
    };
    std::process::exit(code);
}
