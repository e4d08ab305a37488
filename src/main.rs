//! The `keytrail` binary: parse arguments, dispatch, turn the outcome into an exit code.

use clap::Parser;
use keytrail::cli::{Cli, Command};
use keytrail::commands::{self, rules::LintFailed};
use keytrail::exit;

/// jemalloc, not glibc's malloc: with many threads allocating (rayon's readers, polars' pool,
/// the spill writer), glibc's arenas contended (futex calls were 9% of the CPU profile of a
/// dense scan). On 1M dense events `scan` took 5.2-5.5 s instead of 5.8-6.1 s, peaking at
/// 420-440 MB instead of 441-475 MB.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (`_RJEM_MALLOC_CONF` in the environment still
/// overrides them): two arenas. With its default of four per core, freed memory stayed spread
/// over eight arenas: 532-564 MB peak on 1M dense events, against 420-438 MB with two, in the
/// same time.
#[cfg(not(target_env = "msvc"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 10] = b"narenas:2\0";

fn main() {
    keytrail::table::bound_streaming_buffers();
    let cli = Cli::parse();
    // Unlocked: the progress bar draws to stderr from worker threads, so holding the lock
    // for the whole run deadlocks as soon as the bar appears (more than 20 files).
    let mut err = std::io::stderr();
    let result = match &cli.command {
        Command::Scan(a) => commands::scan::run(a, &mut err),
        Command::Events(a) => commands::events::run(a, &mut err),
        Command::Query(a) => commands::query::run(a, &mut err),
        Command::Decode(a) => commands::decode::run(a, &mut err),
        Command::Keys(a) => commands::keys::run(a, &mut err),
        Command::Investigate(a) => commands::investigate::run(a, &mut err),
        Command::Remediate(a) => commands::remediate::run(a, &mut err),
        Command::Run(a) => commands::run::run(a, &mut std::io::stdout().lock(), &mut err),
        Command::Doctor(a) => commands::doctor::run(a, &mut err),
        Command::Rules(c) => rules(c, &mut err),
        Command::Completions(a) => commands::completions::run(a),
        Command::Man(a) => commands::man::run(a, &mut err),
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

/// `rules list|lint|test`, written to stdout or `--output FILE`.
fn rules(
    c: &keytrail::cli::RulesCommand,
    err: &mut dyn std::io::Write,
) -> anyhow::Result<commands::Outcome> {
    use anyhow::Context;
    use std::io::Write;
    let (keytrail::cli::RulesCommand::List { out, .. }
    | keytrail::cli::RulesCommand::Lint { out, .. }
    | keytrail::cli::RulesCommand::Test { out, .. }) = c;
    let mut w = keytrail::output::open_output(out.output.as_deref()).context("opening output")?;
    let outcome = commands::rules::run(c, &mut *w, err);
    w.flush()?;
    outcome
}
