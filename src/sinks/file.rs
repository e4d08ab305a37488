//! File formats and the file sink: findings in the stable schema (NDJSON) or as OCSF
//! Detection Findings, one JSON object per line. The job appends; `scan --export` writes a
//! fresh file (or stdout). A file counts as delivered once written and synced to disk.

use std::io::{self, Write};
use std::path::PathBuf;

use super::{BoxFuture, Delivery, Evidence, ExportContext, Sink, ocsf};
use crate::findings::Finding;

/// What each line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// The stable findings schema (version 1).
    Ndjson,
    /// OCSF 1.3.0 Detection Finding.
    Ocsf,
}

impl FileFormat {
    /// The sink kind and `--export` value.
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Ndjson => "ndjson",
            FileFormat::Ocsf => "ocsf",
        }
    }
}

/// Writes findings to `w`, one JSON object per line.
pub fn write(
    w: &mut dyn Write,
    format: FileFormat,
    findings: &[Finding],
    evidence: &Evidence<'_>,
    ctx: &ExportContext,
) -> io::Result<()> {
    for f in findings {
        match format {
            FileFormat::Ndjson => serde_json::to_writer(&mut *w, f)?,
            FileFormat::Ocsf => {
                serde_json::to_writer(&mut *w, &ocsf::detection_finding(f, &evidence.of(f), ctx))?
            }
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// A file findings are written to.
pub struct FileSink {
    name: String,
    path: PathBuf,
    format: FileFormat,
    /// Append (the job) or replace (an export).
    append: bool,
    ctx: ExportContext,
}

impl FileSink {
    /// A sink writing `format` lines to `path`, named `<format>:<path>`.
    pub fn new(path: PathBuf, format: FileFormat, append: bool, ctx: ExportContext) -> FileSink {
        FileSink {
            name: format!("{}:{}", format.as_str(), path.display()),
            path,
            format,
            append,
            ctx,
        }
    }

    /// Writes and syncs the file.
    fn write_file(&self, findings: &[Finding], evidence: &Evidence<'_>) -> io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append)
            .truncate(!self.append)
            .open(&self.path)?;
        let mut w = io::BufWriter::new(file);
        write(&mut w, self.format, findings, evidence, &self.ctx)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// Writes in place: a CLI's runtime has nothing else to do meanwhile, and the findings
    /// are borrowed (no copy for a blocking thread).
    fn send<'a>(
        &'a self,
        findings: &'a [Finding],
        evidence: &'a Evidence<'a>,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            match self.write_file(findings, evidence) {
                Ok(()) => Delivery::all(findings.len()),
                Err(e) => Delivery::failed(format!("{}: {e}", self.path.display())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testdata;

    fn ctx() -> ExportContext {
        ExportContext {
            host: None,
            version: "0",
            now_ms: 0,
        }
    }

    #[tokio::test]
    async fn a_file_sink_appends_synced_lines_and_an_export_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.ndjson");
        let events = testdata::events();
        let ev = Evidence::new(&events);
        let f = [testdata::finding()];
        let job = FileSink::new(p.clone(), FileFormat::Ndjson, true, ctx());
        assert_eq!(job.name(), format!("ndjson:{}", p.display()));
        assert!(job.send(&f, &ev).await.complete(1));
        assert!(job.send(&f, &ev).await.complete(1));
        assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 2);
        let export = FileSink::new(p.clone(), FileFormat::Ocsf, false, ctx());
        assert!(export.send(&f, &ev).await.complete(1));
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"class_uid\":2004"));
    }

    #[tokio::test]
    async fn an_unwritable_file_is_reported_not_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(
            dir.path().join("no/such/dir/f"),
            FileFormat::Ndjson,
            true,
            ctx(),
        );
        let events = testdata::events();
        let d = sink
            .send(&[testdata::finding()], &Evidence::new(&events))
            .await;
        assert!(d.acknowledged.is_empty());
        assert!(d.errors[0].contains("no/such/dir"), "{:?}", d.errors);
    }
}
