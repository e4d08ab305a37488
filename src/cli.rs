//! Command-line definitions (clap). Parsing only; the work lives in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;
pub use crate::output::term::ColorChoice;
use crate::rules::Severity;

/// `keytrail --version`: the crate version, the commit it was built from and a hash of the
/// built-in rule files (see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KEYTRAIL_GIT_COMMIT"),
    ", rules ",
    env!("KEYTRAIL_RULES_HASH"),
    ")"
);

/// Find Amazon Bedrock API key activity in AWS CloudTrail.
#[derive(Debug, Parser)]
#[command(name = "keytrail", version = VERSION, about, after_help = TOP_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Show the AWS SDK's own error text with each AWS error (for bug reports).
    #[arg(short = 'v', long = "verbose", global = true)]
    pub verbose: bool,
}

/// The exit codes, shown in `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 clean; 1 a finding at or above --fail-on; 2 fatal error \
(bad arguments, nothing could be read, an empty time window); 3 some input was skipped as bad \
(partial results); 4 both 1 and 3; 5 findings not delivered to a sink. doctor: 1 when a check failed.";

/// The top-level help's epilogue: a start, then the exit codes.
const TOP_HELP: &str = "Start with: keytrail scan DIR   (then keytrail keys DIR, keytrail investigate DIR --user NAME)

Exit codes: 0 clean; 1 a finding at or above --fail-on; 2 fatal error (bad arguments, nothing could \
be read, an empty time window); 3 some input was skipped as bad (partial results); 4 both 1 and 3; \
5 findings not delivered to a sink. doctor: 1 when a check failed.";

// Parsed once per process: the size of `scan`'s arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every detection rule over the events and report findings.
    #[command(after_help = SCAN_HELP)]
    Scan(ScanArgs),
    /// Print the Bedrock-relevant events, normalized.
    #[command(after_help = EVENTS_HELP)]
    Events(EventsArgs),
    /// Run your own SQL over the `events` table.
    #[command(after_help = QUERY_HELP)]
    Query(QueryArgs),
    /// Decode Bedrock API keys offline: whose key, which account, valid until when.
    #[command(after_help = DECODE_HELP)]
    Decode(DecodeArgs),
    /// The inventory of Bedrock keys rebuilt from the logs: state and use of each.
    #[command(after_help = KEYS_HELP)]
    Keys(KeysArgs),
    /// The timeline of everything a key or principal did, with a summary.
    #[command(after_help = INVESTIGATE_HELP)]
    Investigate(InvestigateArgs),
    /// Print (never run) the steps that revoke a compromised key.
    #[command(after_help = REMEDIATE_HELP)]
    Remediate(RemediateArgs),
    /// Check AWS access: who am I, which region, do the permissions the sources need work.
    #[command(after_help = DOCTOR_HELP)]
    Doctor(DoctorArgs),
    /// The scheduled job: read what is new since the last run, deliver new findings.
    Run(RunArgs),
    /// List or lint detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a directory.
    #[command(after_help = MAN_HELP)]
    Man(ManArgs),
}

const SCAN_HELP: &str = "Examples:
  keytrail scan ~/trail-export/                          findings as tables, most severe first
  keytrail scan logs/ --since 7d --min-severity high --fail-on high
  keytrail scan s3://org-trail-bucket --since 1d --format html -o report.html

Exit codes: 0 clean; 1 a finding at or above --fail-on (of those reported); 2 fatal (nothing \
could be read, an empty time window, bad arguments); 3 some input skipped as bad; 4 both 1 and 3; \
5 --export could not deliver every finding.";

const EVENTS_HELP: &str = "Examples:
  keytrail events sample-logs/ --format ndjson
  keytrail events logs/ --all-events --format csv -o all.csv
  keytrail events s3://org-trail-bucket --since 1d --format parquet -o events.parquet

Exit codes: 0 every input read; 2 fatal (nothing could be read, an empty time window, bad \
arguments); 3 some input skipped as bad.";

const QUERY_HELP: &str = "Examples:
  keytrail query logs/ --sql \"SELECT principal_arn, count(*) AS calls FROM events WHERE activity = 'bearer_long_term' GROUP BY principal_arn\"
  keytrail query logs/ --all-events --sql \"SELECT event_name, count(*) AS n FROM events GROUP BY event_name\" -f csv

Exit codes: 0 every input read; 2 fatal (the SQL failed, nothing could be read, an empty time \
window); 3 some input skipped as bad.";

const DECODE_HELP: &str = "Examples:
  pbpaste | keytrail decode
  keytrail decode --file leaked-config.env --format json

Exit codes: 0 every key decoded; 2 no key could be decoded (or none found); 3 some keys could \
not be decoded. The same codes for every --format.";

const KEYS_HELP: &str = "Examples:
  keytrail keys sample-logs/
  keytrail keys s3://org-trail-bucket --since 90d --format json -o keys.json

Exit codes: 0 every input read; 2 fatal (nothing could be read, an empty time window); 3 some \
input skipped as bad.";

const INVESTIGATE_HELP: &str = "Examples:
  keytrail investigate logs/ --token - < leaked.txt
  keytrail investigate lookup:all --user BedrockAPIKey-x7k2 --since 30d
  keytrail investigate logs/ --access-key-id ASIA... --format json -o case.json

Exit codes: 0 every input read; 2 fatal (nothing could be read, an empty time window, a bad \
key); 3 some input skipped as bad.";

const REMEDIATE_HELP: &str = "Examples:
  keytrail remediate --token - sample-logs/ < leaked.txt
  keytrail remediate --user BedrockAPIKey-x7k2 --credential-id ACCA... --format json

Exit codes: 0 the plan was printed; 2 fatal (a bad key, bad arguments); 3 some log input could \
not be read (the plan uses what was read).";

const DOCTOR_HELP: &str = "Examples:
  keytrail doctor
  keytrail doctor s3://org-trail-bucket lookup:us-east-1 --profile security-audit

Exit codes: 0 every check passed; 1 a check failed; 2 fatal (bad arguments).";

const COMPLETIONS_HELP: &str = "Examples:
  keytrail completions bash > ~/.local/share/bash-completion/completions/keytrail
  keytrail completions zsh > \"${fpath[1]}/_keytrail\"
  keytrail completions fish > ~/.config/fish/completions/keytrail.fish";

const MAN_HELP: &str = "Examples:
  keytrail man | man -l -
  keytrail man --dir /usr/local/share/man/man1        keytrail.1 and keytrail-COMMAND.1";

/// Where output goes and how it looks (every command).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Write results to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No progress bar and no summary line on stderr (problems are still reported).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Colour in tables: auto (when stdout is a terminal and NO_COLOR is unset), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Where to read from and what to keep.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Input")]
pub struct InputArgs {
    /// Inputs: files or directories (walked recursively), `-` for stdin,
    /// `s3://BUCKET[/PREFIX]` for a trail's bucket, `lookup:REGION[,REGION...]` or `lookup:all`
    /// for the CloudTrail LookupEvents API.
    #[arg(required = true, value_name = "INPUT")]
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
    /// Memory the events table may use before it spills to temporary files ($TMPDIR):
    /// 512M, 2G, 300MiB.
    #[arg(
        long,
        value_name = "SIZE",
        env = "KEYTRAIL_MEMORY_LIMIT",
        default_value = "512M"
    )]
    pub memory_limit: String,
    /// Read only shard K of N (0-based) of the inputs, split by account, region and day
    /// (hour on hot days); merge the shards' `events --format parquet` files with `scan`.
    #[arg(long, value_name = "K/N", env = "KEYTRAIL_SHARD")]
    pub shard: Option<String>,
    /// Keep secrets found inside records (keys, session tokens, signatures) unredacted, for
    /// a forensic copy: only with --output FILE, never to a terminal, pipe or SIEM.
    #[arg(long)]
    pub no_redact: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Keep each event's raw record (set by `scan --export` for evidence; not a flag).
    #[arg(skip)]
    pub keep_raw: bool,
}

/// AWS access for `s3://` and `lookup:` inputs; credentials resolve as the AWS CLI does.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "AWS (s3:// and lookup: inputs)")]
pub struct AwsArgs {
    /// Named profile from ~/.aws/config (SSO and credential_process work too).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Region for API calls (default: from the profile or AWS_REGION; S3 follows the bucket).
    #[arg(long, value_name = "REGION", value_parser = crate::aws::regions::parse_region)]
    pub region: Option<String>,
    /// Assume this role first (cross-account audit roles).
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// External id the role's trust policy requires.
    #[arg(long, value_name = "ID", requires = "role_arn")]
    pub external_id: Option<String>,
    /// Session name for the assumed role (default: keytrail-<time>).
    #[arg(long, value_name = "NAME", requires = "role_arn")]
    pub role_session_name: Option<String>,
    /// Send every AWS call to this endpoint (S3-compatible stores, tests); see also
    /// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_CLOUDTRAIL.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Address buckets as http://host/bucket/key (S3-compatible stores).
    #[arg(long)]
    pub force_path_style: bool,
    /// Only these accounts (S3 layout pruning), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub accounts: Vec<String>,
    /// Only these regions (S3 layout pruning and `lookup:all`), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "REGION,...", value_parser = crate::aws::regions::parse_region)]
    pub regions: Vec<String>,
    /// S3 objects fetched at once.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Show the AWS SDK's own error text with each AWS error (`-v` anywhere on the line).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also run the rules in DIR (*.sql files with a metadata header).
    #[arg(long, value_name = "DIR", help_heading = "Rules")]
    pub queries: Vec<PathBuf>,
    /// Run only these rules (repeat or comma-separate ids; `keytrail rules list` shows them).
    #[arg(
        long = "rule",
        value_name = "ID",
        value_delimiter = ',',
        help_heading = "Rules"
    )]
    pub rules: Vec<String>,
    /// Report and export only findings at or above this severity.
    #[arg(long, value_enum, value_name = "SEVERITY", help_heading = "Rules")]
    pub min_severity: Option<Severity>,
    /// Exit with 1 when a reported finding (after --rule and --min-severity) is at or above
    /// this severity.
    #[arg(long, value_enum, value_name = "SEVERITY", help_heading = "Rules")]
    pub fail_on: Option<Severity>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ScanFormat::Table, help_heading = "Output")]
    pub format: ScanFormat,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Set a rule parameter, e.g. key_invocation_spike.threshold=500 (repeatable; `keytrail
    /// rules list` shows every parameter and its default).
    #[arg(long = "set", value_name = "RULE.PARAM=VALUE", help_heading = "Rules")]
    pub set: Vec<String>,
    /// Print to stderr how long reading and each rule took, and the process's memory after
    /// each (for rule authors and capacity planning).
    #[arg(long, help_heading = "Rules")]
    pub stats: bool,
    #[command(flatten)]
    pub export: ExportArgs,
}

/// What `scan` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    /// Findings for people: counts per severity first, most severe first, coloured.
    Table,
    /// One document: schema_version, findings, summary (schemas/findings.schema.json).
    Json,
    /// One finding per line (schemas/finding.schema.json).
    Ndjson,
    /// One finding per row; the rule's fields as one JSON cell.
    Csv,
    /// One self-contained HTML page: headline, findings by rule, a timeline per key.
    Html,
}

impl From<ScanFormat> for Format {
    fn from(f: ScanFormat) -> Format {
        match f {
            ScanFormat::Table => Format::Table,
            ScanFormat::Json => Format::Json,
            ScanFormat::Ndjson => Format::Ndjson,
            ScanFormat::Csv => Format::Csv,
            ScanFormat::Html => Format::Html,
        }
    }
}

/// What `events` and `query` write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RowsFormat {
    /// A table for people (fewer columns when the screen is narrow).
    Table,
    /// One JSON array of rows.
    Json,
    /// One JSON object per line (events: schemas/event.schema.json).
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet; needs --output FILE.
    Parquet,
}

impl From<RowsFormat> for Format {
    fn from(f: RowsFormat) -> Format {
        match f {
            RowsFormat::Table => Format::Table,
            RowsFormat::Json => Format::Json,
            RowsFormat::Ndjson => Format::Ndjson,
            RowsFormat::Csv => Format::Csv,
            RowsFormat::Parquet => Format::Parquet,
        }
    }
}

/// What `scan --export` sends findings as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The stable findings schema, one per line (to --output FILE or stdout).
    Ndjson,
    /// OCSF 1.3.0 Detection Findings, one per line (to --output FILE or stdout).
    Ocsf,
    /// Splunk HTTP Event Collector (--hec-url, --hec-token-env or --hec-token-file).
    SplunkHec,
    /// Elasticsearch bulk API, ECS documents (--elastic-url, --index).
    Ecs,
    /// CEF over syslog, RFC 5424 (--syslog tcp://HOST:PORT or udp://HOST:PORT).
    Cef,
}

/// SIEM export for `scan` (see the README's "SIEM export" section).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "SIEM export")]
pub struct ExportArgs {
    /// Also deliver the findings in this format; exit 5 when some could not be delivered.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub export: Option<ExportFormat>,
    /// Splunk HEC base URL (https://splunk.example:8088).
    #[arg(long, value_name = "URL")]
    pub hec_url: Option<String>,
    /// Environment variable holding the HEC token.
    #[arg(long, value_name = "VAR", conflicts_with = "hec_token_file")]
    pub hec_token_env: Option<String>,
    /// File holding the HEC token.
    #[arg(long, value_name = "FILE")]
    pub hec_token_file: Option<PathBuf>,
    /// HEC sourcetype (default: keytrail:finding).
    #[arg(long, value_name = "NAME")]
    pub hec_sourcetype: Option<String>,
    /// HEC index (default: the token's default index).
    #[arg(long, value_name = "NAME")]
    pub hec_index: Option<String>,
    /// Elasticsearch URL (http://127.0.0.1:9200).
    #[arg(long, value_name = "URL")]
    pub elastic_url: Option<String>,
    /// Elasticsearch index or data stream.
    #[arg(long, value_name = "NAME")]
    pub index: Option<String>,
    /// Environment variable holding an Elasticsearch API key (the encoded form).
    #[arg(long, value_name = "VAR", conflicts_with_all = ["elastic_api_key_file", "elastic_user"])]
    pub elastic_api_key_env: Option<String>,
    /// File holding an Elasticsearch API key (the encoded form).
    #[arg(long, value_name = "FILE", conflicts_with = "elastic_user")]
    pub elastic_api_key_file: Option<PathBuf>,
    /// Elasticsearch user (with --elastic-password-env or --elastic-password-file).
    #[arg(long, value_name = "USER")]
    pub elastic_user: Option<String>,
    /// Environment variable holding the Elasticsearch password.
    #[arg(
        long,
        value_name = "VAR",
        requires = "elastic_user",
        conflicts_with = "elastic_password_file"
    )]
    pub elastic_password_env: Option<String>,
    /// File holding the Elasticsearch password.
    #[arg(long, value_name = "FILE", requires = "elastic_user")]
    pub elastic_password_file: Option<PathBuf>,
    /// Syslog receiver for CEF: tcp://HOST:PORT (octet-counted) or udp://HOST:PORT.
    #[arg(long, value_name = "ADDRESS")]
    pub syslog: Option<String>,
    /// Findings per HEC or bulk request.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Retries of a failed delivery (HTTP 429/5xx, connection errors).
    #[arg(long, value_name = "N", env = "KEYTRAIL_RETRIES", default_value_t = 4)]
    pub retries: u32,
    /// Wait before the first retry (250ms, 2s); each later wait doubles, up to 30s.
    #[arg(
        long,
        value_name = "DURATION",
        env = "KEYTRAIL_RETRY_DELAY",
        default_value = "1s"
    )]
    pub retry_delay: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = RowsFormat::Table, help_heading = "Output")]
    pub format: RowsFormat,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// SQL over the table `events` (polars SQL dialect).
    #[arg(long, value_name = "SQL", help_heading = "Query")]
    pub sql: String,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = RowsFormat::Table, help_heading = "Output")]
    pub format: RowsFormat,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Output formats of the forensics commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Tables for people.
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Ndjson,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Tokens, or text that contains them (a config line, a log line); `-` or nothing reads
    /// standard input. Prefer stdin or --file: arguments end up in shell history.
    #[arg(value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// Read tokens (or text containing them) from FILE.
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub file: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ReportFormat::Table, help_heading = "Output")]
    pub format: ReportFormat,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ReportFormat::Table, help_heading = "Output")]
    pub format: ReportFormat,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// What to investigate: exactly one.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
#[command(next_help_heading = "Subject (exactly one)")]
pub struct SubjectArgs {
    /// A leaked key (ABSK... or bedrock-api-key-...); `-` reads it from stdin.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Read the key from FILE (the first key found in it).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// An IAM user name (a key's user, or a BedrockAPIKey- user).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// An access key id (AKIA... or ASIA...).
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// A long-term key's credential id (ACCA...).
    #[arg(long, value_name = "ID")]
    pub credential_id: Option<String>,
    /// A source IP address.
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<String>,
}

/// `investigate`: the inputs (`--format ndjson` prints the timeline's events) and the subject.
#[derive(Debug, Args)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// Also run the rules in DIR.
    #[arg(long, value_name = "DIR", help_heading = "Rules")]
    pub queries: Vec<PathBuf>,
    /// Output format (ndjson: the timeline's events, one per line).
    #[arg(long, short = 'f', value_enum, default_value_t = ReportFormat::Table, help_heading = "Output")]
    pub format: ReportFormat,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Set a rule parameter, e.g. key_multi_region.window=1h (repeatable).
    #[arg(long = "set", value_name = "RULE.PARAM=VALUE", help_heading = "Rules")]
    pub set: Vec<String>,
}

/// The key to revoke: a token, or what is known of it.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false, id = "key")]
#[command(next_help_heading = "Key (exactly one)")]
pub struct RemediateKeyArgs {
    /// The compromised key; `-` reads it from stdin.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Read the key from FILE.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The IAM user of a long-term key (with --credential-id when known).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The access key id that signed a short-term key.
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
}

/// Output formats of `remediate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// Numbered steps with the commands, for people (`text` is accepted too).
    #[value(alias = "text")]
    Table,
    /// One JSON document.
    Json,
}

#[derive(Debug, Args)]
pub struct RemediateArgs {
    #[command(flatten)]
    pub key: RemediateKeyArgs,
    /// The long-term key's credential id, when known (else looked up from INPUTs or IAM).
    #[arg(
        long,
        value_name = "ID",
        requires = "user",
        help_heading = "Key (exactly one)"
    )]
    pub credential_id: Option<String>,
    /// Logs to fill in what the key does not say (credential id, signing role): optional.
    #[arg(value_name = "INPUT")]
    pub paths: Vec<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = PlanFormat::Table, help_heading = "Output")]
    pub format: PlanFormat,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The sources to check: `s3://BUCKET[/PREFIX]`, `lookup:REGIONS` (default: identity only).
    #[arg(value_name = "INPUT")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job's TOML configuration (see the README's "Scheduled job" section).
    #[arg(long, short = 'c', env = "KEYTRAIL_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
    /// The state database (overrides `state` and KEYTRAIL_STATE).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Read and detect, print the findings each sink would get, deliver and commit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// This is the first run: create the state (a missing or empty one is an error otherwise);
    /// a damaged state is kept aside and a new one started.
    #[arg(long)]
    pub init: bool,
    /// Show the AWS SDK's own error text with each AWS error (`-v` anywhere on the line).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the built-in rules and those in --queries DIR.
    List {
        /// Also list the rules in DIR.
        #[arg(long, value_name = "DIR")]
        queries: Vec<PathBuf>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Check rule files: header, parameters, SQL, known columns, evidence column. Default:
    /// built-in rules.
    Lint {
        /// Directory of *.sql rule files.
        dir: Option<PathBuf>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Run rules against their test cases (RULE.test.json beside each RULE.sql). Default:
    /// built-in rules.
    Test {
        /// Directory of *.sql rule files and their *.test.json cases.
        dir: Option<PathBuf>,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `keytrail completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `keytrail man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write keytrail.1 and one keytrail-COMMAND.1 per command into DIR instead.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}
