//! The integration tests: one binary (as ripgrep does), one module per area; `common` holds
//! the helpers and the in-process servers (S3, LookupEvents, STS, SIEM stand-ins) they start.

mod aws_auth;
mod bad_inputs;
mod cli;
mod common;
mod datasets;
mod engine;
mod forensics;
mod html_report;
mod job;
mod lookup_source;
mod nothing_read;
mod packaging;
mod report;
mod s3_source;
mod sample_logs;
mod schemas;
mod secrets;
mod siem_export;
mod siem_job;
mod terminal;
