//! Command-line definitions (clap). Parsing only; the work lives in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;
use crate::rules::Severity;

/// Find Amazon Bedrock API key activity in AWS CloudTrail.
#[derive(Debug, Parser)]
#[command(name = "keytrail", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, shown in `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 clean; 1 a finding at or above --fail-on; 2 fatal error; \
3 some input was skipped as bad (partial results); 4 both 1 and 3.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every detection rule over the events and report findings.
    Scan(ScanArgs),
    /// Print the Bedrock-relevant events, normalized.
    Events(EventsArgs),
    /// Run your own SQL over the `events` table.
    Query(QueryArgs),
    /// List or lint detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
}

/// Where to read from and what to keep.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files or directories (walked recursively) of CloudTrail logs; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Keep events at or after this time: RFC 3339, a date, or a duration back from now (24h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Keep events before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Keep every event, not only the Bedrock-relevant ones (for broad queries).
    #[arg(long)]
    pub all_events: bool,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write results to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also run the rules in DIR (*.sql files with a metadata header).
    #[arg(long, value_name = "DIR")]
    pub queries: Vec<PathBuf>,
    /// Exit with 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// SQL over the table `events` (polars SQL dialect).
    #[arg(long, value_name = "SQL")]
    pub sql: String,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the built-in rules and those in --queries DIR.
    List {
        /// Also list the rules in DIR.
        #[arg(long, value_name = "DIR")]
        queries: Vec<PathBuf>,
    },
    /// Check rule files: header, SQL, known columns, evidence column. Default: built-in rules.
    Lint {
        /// Directory of *.sql rule files.
        dir: Option<PathBuf>,
    },
}
