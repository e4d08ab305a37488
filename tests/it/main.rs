//! The integration tests: one binary (as ripgrep does), one module per area; `common` holds
//! the helpers and the in-process servers (S3, LookupEvents, STS, SIEM stand-ins) they start.

mod aws_auth;
mod bad_inputs;
mod common;
mod datasets;
mod engine;
mod forensics;
mod hostile_inputs;
mod job;
mod lookup_source;
mod s3_source;
mod sample_logs;
mod secrets;
mod siem_export;
mod siem_job;
