//! keytrail: find Amazon Bedrock API key activity in AWS CloudTrail.
//!
//! # Layout
//! - `sources/`: where records come from: local files, directories and stdin (`local`), S3
//!   buckets (`s3/`, with the CloudTrail key layout in `s3/layout`), the LookupEvents API
//!   (`lookup`), Parquet files of the events table (`parquet`), the streaming record splitter
//!   (`scanner`), the keyword prefilter (`prefilter`), the gzip reader that survives corrupt
//!   members (`gzip`), and `--shard K/N` (`shard`).
//! - `aws/`: AWS configuration and credentials, error messages that say what to do, and the
//!   LookupEvents rate limiter.
//! - `transforms/`: normalization of raw records into [`event::Event`] rows and the
//!   Bedrock key classification (`classify`).
//! - `pipeline`: parallel ingest tying sources and transforms together, with the summary.
//! - `table/`: the polars `events` table the rules query: column builders
//!   (`builder`), the store that holds it within a memory budget and spills sorted runs
//!   (`store`), and the unnamed temporary Parquet files it spills to (`spill`).
//! - `rules/`: rule files (`queries/*.sql`), the SQL engine and the linter.
//! - `findings`: the stable findings schema.
//! - `keys/`: key forensics: offline token decoding, the key inventory, investigations and
//!   remediation plans.
//! - `job/`: the scheduled job (`keytrail run`): TOML config, SQLite state, and the
//!   `[[sink]]` tables turned into sinks (`deliver`).
//! - `sinks/`: SIEM export, shared by `scan --export` and the job: formats (`ocsf`, `ecs`,
//!   `cef`, stable NDJSON in `file`), transports (`file`, `hec`, `elastic`, `syslog`),
//!   retries (`retry`, `http`) and secrets (`secret`).
//! - `output/`: table/JSON/NDJSON/CSV/Parquet/HTML writers; tables laid out for the screen
//!   (`term`, `layout`), the `scan` report (`report`, `html`) and the summary (`summary`).
//! - `commands/`: one module per subcommand; `cli` holds the clap definitions.
//! - `redact`: hiding secrets before anything is printed, including secrets found inside
//!   CloudTrail records.
//! - `exit`: exit codes.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod event;
pub mod exit;
pub mod findings;
pub mod job;
pub mod keys;
pub mod output;
pub mod pipeline;
pub mod redact;
pub mod rules;
pub mod sinks;
pub mod sources;
pub mod table;
pub mod timefmt;
pub mod transforms;
