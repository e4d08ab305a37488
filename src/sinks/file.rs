//! File formats and the file sink: findings in the stable schema (NDJSON) or as OCSF
//! Detection Findings, one JSON object per line. The job appends; `scan --export` writes a
//! fresh file (or stdout). A file counts as delivered once written and synced to disk.
//!
//! Exactly once: before appending, the sink has the job record the file's identity and
//! length (the batch mark); once the lines are synced it acknowledges them, which clears the
//! mark. A run killed in between leaves the mark, and the next run cuts the file back to
//! that length before writing again, so neither a repeated nor a half-written line stays.

use std::io::{self, Write};
use std::path::PathBuf;

use super::{BoxFuture, Delivery, Evidence, ExportContext, Sink, Tracker, ocsf};
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

    /// Appends (or writes) and syncs the file, first cutting off a batch an earlier run
    /// began and never acknowledged.
    fn write_file(
        &self,
        findings: &[Finding],
        evidence: &Evidence<'_>,
        tracker: &mut dyn Tracker,
    ) -> Result<(), String> {
        let shown = self.path.display();
        let io = |what: &str, e: io::Error| format!("{shown}: {what}: {e}");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append)
            .truncate(!self.append)
            .open(&self.path)
            .map_err(|e| io("cannot open", e))?;
        if self.append {
            let meta = file.metadata().map_err(|e| io("cannot stat", e))?;
            if let Some(mark) = tracker.unfinished().as_deref().and_then(Mark::parse)
                && mark.same_file(&Mark::of(&meta))
                && meta.len() > mark.len
            {
                file.set_len(mark.len)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io("cannot cut off an unacknowledged batch", e))?;
            }
            let meta = file.metadata().map_err(|e| io("cannot stat", e))?;
            tracker.begin(&Mark::of(&meta).to_string())?;
        }
        let mut w = io::BufWriter::new(file);
        write(&mut w, self.format, findings, evidence, &self.ctx).map_err(|e| io("writing", e))?;
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .map_err(|e| io("writing", e))
    }
}

/// Where a batch began: the file's identity (device, inode) and its length then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    dev: u64,
    ino: u64,
    len: u64,
}

impl Mark {
    /// The mark of a file as it is now.
    fn of(meta: &std::fs::Metadata) -> Mark {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Mark {
            dev,
            ino,
            len: meta.len(),
        }
    }

    /// `dev:ino:len`.
    fn parse(s: &str) -> Option<Mark> {
        let mut it = s.split(':').map(|x| x.parse::<u64>().ok());
        let m = Mark {
            dev: it.next()??,
            ino: it.next()??,
            len: it.next()??,
        };
        it.next().is_none().then_some(m)
    }

    /// The same file (not one rotated in its place).
    fn same_file(&self, other: &Mark) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.dev, self.ino, self.len)
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
        tracker: &'a mut dyn Tracker,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            if let Err(e) = self.write_file(findings, evidence, tracker) {
                return Delivery::failed(e);
            }
            let all: Vec<usize> = (0..findings.len()).collect();
            let mut d = Delivery::all(findings.len());
            if let Err(e) = tracker.acknowledged(&all) {
                d.error(e);
            }
            d
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testdata::{self, Recorder};

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
        let mut t = Recorder::default();
        assert!(job.send(&f, &ev, &mut t).await.complete(1));
        assert!(job.send(&f, &ev, &mut t).await.complete(1));
        assert_eq!(t.acks, vec![vec![0], vec![0]]);
        assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 2);
        let export = FileSink::new(p.clone(), FileFormat::Ocsf, false, ctx());
        assert!(export.send(&f, &ev, &mut t).await.complete(1));
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
            .send(
                &[testdata::finding()],
                &Evidence::new(&events),
                &mut Recorder::default(),
            )
            .await;
        assert!(d.acknowledged.is_empty());
        assert!(d.errors[0].contains("no/such/dir"), "{:?}", d.errors);
    }

    #[tokio::test]
    async fn a_batch_begun_and_never_acknowledged_is_cut_off_before_writing_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.ndjson");
        let events = testdata::events();
        let ev = Evidence::new(&events);
        let f = [testdata::finding()];
        let sink = FileSink::new(p.clone(), FileFormat::Ndjson, true, ctx());
        let mut first = Recorder::default();
        assert!(sink.send(&f, &ev, &mut first).await.complete(1));
        let one_line = std::fs::read(&p).unwrap();
        // A run that began a batch, wrote half a line and was killed.
        let mark = first.begun.last().unwrap().clone();
        let mut mark_after = Recorder::default();
        sink.send(&f, &ev, &mut mark_after).await;
        let torn = std::fs::read(&p).unwrap();
        std::fs::write(&p, &torn[..one_line.len() + 10]).unwrap();
        let mut resumed = Recorder {
            unfinished: Some(mark_after.begun[0].clone()),
            ..Recorder::default()
        };
        assert!(sink.send(&f, &ev, &mut resumed).await.complete(1));
        assert_eq!(
            std::fs::read(&p).unwrap(),
            torn,
            "the torn line was cut off and the batch written once"
        );
        assert_ne!(mark, mark_after.begun[0]);
        // A mark of another file (rotated away) cuts nothing.
        let mut other = Recorder {
            unfinished: Some("1:2:0".into()),
            ..Recorder::default()
        };
        assert!(sink.send(&f, &ev, &mut other).await.complete(1));
        assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 3);
    }
}
