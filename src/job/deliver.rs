//! Where the job sends findings. Each sink acknowledges a batch (a file written and synced,
//! an HTTP 2xx, a flushed TCP stream) before the job records it as delivered.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;

use super::config::SinkConfig;
use crate::event::Event;
use crate::findings::Finding;

/// A boxed future, for sinks behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A destination the job delivers findings to.
pub trait JobSink: Send + Sync {
    /// The name deliveries are recorded under in the state.
    fn name(&self) -> &str;
    /// Delivers a batch and returns once the destination acknowledged it; `events` holds the
    /// events behind the findings (with raw records) for sinks that carry evidence.
    fn send<'a>(
        &'a self,
        findings: &'a [Finding],
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Builds the sink a `[[sink]]` table describes.
pub fn build(cfg: &SinkConfig) -> Result<Box<dyn JobSink>, String> {
    match cfg.kind.as_str() {
        "ndjson" => Ok(Box::new(NdjsonFile {
            name: cfg.state_name(),
            path: PathBuf::from(cfg.text("path")?),
        })),
        other => Err(format!("unknown sink kind {other:?}: use ndjson")),
    }
}

/// Appends findings (the stable schema, one per line) to a file; acknowledged once synced.
struct NdjsonFile {
    name: String,
    path: PathBuf,
}

impl JobSink for NdjsonFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(
        &'a self,
        findings: &'a [Finding],
        _events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let path = self.path.clone();
            let mut buf = Vec::new();
            for f in findings {
                serde_json::to_writer(&mut buf, f).map_err(|e| e.to_string())?;
                buf.push(b'\n');
            }
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                file.write_all(&buf)?;
                file.sync_all()
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", self.path.display()))
        })
    }
}
