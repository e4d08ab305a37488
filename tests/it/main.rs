//! The integration tests: one binary (as ripgrep does), one module per area; `common` holds
//! the helpers, the in-process servers (S3, LookupEvents, STS, SIEM stand-ins) they start,
//! and the real SIEM receivers (`common::real`) installed by `.ci/receivers.sh`.

mod aws_auth;
mod aws_errors;
mod bad_inputs;
mod cli;
mod common;
mod datasets;
mod deploy;
mod engine;
mod forensics;
mod hostile_inputs;
mod html_report;
mod job;
mod job_kills;
mod lookup_source;
mod nothing_read;
mod packaging;
mod report;
mod rules;
mod s3_source;
mod sample_logs;
mod schemas;
mod secrets;
mod siem_export;
mod siem_job;
mod siem_receivers;
mod terminal;
