//! Where findings go besides the terminal: SIEM formats and transports, shared by
//! `keytrail scan --export` and the scheduled job's `[[sink]]` tables.
//!
//! Formats are pure functions from a finding and the events behind it to bytes: the stable
//! findings NDJSON, OCSF Detection Finding (`ocsf`), ECS documents (`ecs`), CEF (`cef`).
//! Transports deliver them and say what the destination acknowledged: files (`file`),
//! Splunk HEC (`hec`), the Elasticsearch bulk API (`elastic`), syslog over TCP or UDP
//! (`syslog`). `retry` holds the backoff policy, `http` the request/retry loop HEC and
//! Elasticsearch share, `secret` tokens and passwords that are never printed.

pub mod cef;
pub mod ecs;
pub mod elastic;
pub mod file;
pub mod hec;
pub mod http;
pub mod ocsf;
pub mod retry;
pub mod secret;
pub mod syslog;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::event::Event;
use crate::findings::Finding;
use crate::rules::Severity;

pub use retry::RetryPolicy;
pub use secret::Secret;

/// A boxed future, for sinks behind `dyn` (run with `block_on`, so it need not be `Send`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A destination for findings. `scan --export` and `keytrail run` both deliver through it.
pub trait Sink: Send + Sync {
    /// The name reports and the job's state use (`splunk-hec:https://...`).
    fn name(&self) -> &str;
    /// Delivers the findings and returns once the destination acknowledged what it could;
    /// `evidence` holds the events behind them (with raw records) for formats that carry them.
    /// Each batch the destination acknowledges is told to `tracker` at once, before the next
    /// batch goes out.
    fn send<'a>(
        &'a self,
        findings: &'a [Finding],
        evidence: &'a Evidence<'a>,
        tracker: &'a mut dyn Tracker,
    ) -> BoxFuture<'a, Delivery>;
}

/// What a sink tells while it sends: each acknowledgement as it comes (the job records it in
/// its state then and there, so a kill repeats at most the batch in flight), where a batch it
/// can undo begins, and a status line for any wait of 2 seconds or more.
pub trait Tracker {
    /// The destination acknowledged these findings (indices into the slice handed to
    /// `send`). An error (the record could not be kept) stops the sending.
    fn acknowledged(&mut self, indices: &[usize]) -> Result<(), String>;
    /// A batch that can be undone (cut from a file) is about to be written; `mark` says how.
    /// Kept durably before the batch is written, until the batch is acknowledged.
    fn begin(&mut self, _mark: &str) -> Result<(), String> {
        Ok(())
    }
    /// The mark of a batch begun and never acknowledged (a run killed in between).
    fn unfinished(&self) -> Option<String> {
        None
    }
    /// A line for the user while the sink waits (a retry's back-off, a slow answer).
    fn status(&mut self, line: &str);
}

/// A tracker that only writes status lines (`keytrail: ...`) to a writer: `scan --export`.
pub struct StatusLines<'w> {
    pub out: &'w mut dyn std::io::Write,
}

impl Tracker for StatusLines<'_> {
    fn acknowledged(&mut self, _: &[usize]) -> Result<(), String> {
        Ok(())
    }

    fn status(&mut self, line: &str) {
        let _ = writeln!(self.out, "keytrail: {line}");
    }
}

/// What a destination acknowledged of one `send`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Indices (into the findings handed in) the destination acknowledged, ascending.
    pub acknowledged: Vec<usize>,
    /// Why the others were not delivered, one line per distinct reason.
    pub errors: Vec<String>,
}

impl Delivery {
    /// Every one of `n` findings acknowledged.
    pub fn all(n: usize) -> Delivery {
        Delivery {
            acknowledged: (0..n).collect(),
            errors: Vec::new(),
        }
    }

    /// Nothing acknowledged, for one reason.
    pub fn failed(reason: impl Into<String>) -> Delivery {
        Delivery {
            acknowledged: Vec::new(),
            errors: vec![reason.into()],
        }
    }

    /// Adds a reason unless it is already listed.
    pub fn error(&mut self, reason: impl Into<String>) {
        let r = reason.into();
        if !self.errors.contains(&r) {
            self.errors.push(r);
        }
    }

    /// True when all of `n` findings were acknowledged.
    pub fn complete(&self, n: usize) -> bool {
        self.acknowledged.len() == n
    }

    /// Sorts and deduplicates the acknowledged indices.
    pub fn normalize(mut self) -> Delivery {
        self.acknowledged.sort_unstable();
        self.acknowledged.dedup();
        self
    }
}

/// The events behind findings, looked up by CloudTrail event id.
#[derive(Debug, Default)]
pub struct Evidence<'e> {
    by_id: HashMap<&'e str, &'e Event>,
}

impl<'e> Evidence<'e> {
    /// Indexes events by event id (the first event wins when an id repeats).
    pub fn new(events: &'e [Event]) -> Evidence<'e> {
        let mut by_id = HashMap::with_capacity(events.len());
        for e in events {
            if let Some(id) = e.event_id.as_deref() {
                by_id.entry(id).or_insert(e);
            }
        }
        Evidence { by_id }
    }

    /// The known events behind a finding, in the finding's evidence order.
    pub fn of(&self, f: &Finding) -> Vec<&'e Event> {
        f.evidence_event_ids
            .iter()
            .filter_map(|id| self.by_id.get(id).copied())
            .collect()
    }
}

/// The event ids the findings name as evidence (what [`Evidence`] must be built from).
pub fn evidence_ids(findings: &[Finding]) -> std::collections::HashSet<&str> {
    findings
        .iter()
        .flat_map(|f| f.evidence_event_ids.iter())
        .collect()
}

/// What every format needs besides the finding: who sends it and when.
#[derive(Debug, Clone)]
pub struct ExportContext {
    /// This machine's host name, when known (HEC `host`, syslog HOSTNAME).
    pub host: Option<String>,
    /// keytrail's version (OCSF `metadata.product.version`, CEF device version).
    pub version: &'static str,
    /// The export time, milliseconds since the epoch.
    pub now_ms: i64,
}

impl ExportContext {
    /// The context for an export starting now, with this machine's host name.
    pub fn now() -> ExportContext {
        ExportContext {
            host: hostname(),
            version: env!("CARGO_PKG_VERSION"),
            now_ms: chrono::Utc::now().timestamp_millis(),
        }
    }
}

/// This machine's host name, from the kernel or `HOSTNAME`.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Times of the evidence events, milliseconds: (first, last), when any is known.
pub fn seen_range(events: &[&Event]) -> Option<(i64, i64)> {
    let times = events.iter().filter_map(|e| e.event_time);
    let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    (lo <= hi).then(|| (lo.div_euclid(1000), hi.div_euclid(1000)))
}

/// The time a finding is filed under, milliseconds: its last evidence event, else now.
pub fn finding_time(events: &[&Event], ctx: &ExportContext) -> i64 {
    seen_range(events).map_or(ctx.now_ms, |(_, last)| last)
}

/// A severity as 1 (info) to 5 (critical), the OCSF `severity_id` scale.
pub fn severity_number(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// The distinct non-empty values `f` gives over the events, in first-seen order.
pub fn distinct<'e>(
    events: &[&'e Event],
    f: impl Fn(&'e Event) -> Option<&'e str>,
) -> Vec<&'e str> {
    let mut out: Vec<&str> = Vec::new();
    for e in events {
        if let Some(v) = f(e).filter(|v| !v.is_empty())
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
    out
}

/// The first non-empty value `f` gives over the events.
pub fn first<'e>(
    events: &[&'e Event],
    f: impl Fn(&'e Event) -> Option<&'e str>,
) -> Option<&'e str> {
    events.iter().find_map(|e| f(e).filter(|v| !v.is_empty()))
}

/// A destination as the command line or a `[[sink]]` table describes it.
#[derive(Debug, Clone)]
pub enum SinkSpec {
    /// A file of findings (stable schema) or OCSF events, one per line.
    File {
        path: std::path::PathBuf,
        format: file::FileFormat,
        /// Append (the job) or replace (an export).
        append: bool,
    },
    /// Splunk HEC.
    SplunkHec(hec::HecConfig),
    /// Elasticsearch bulk API, ECS documents.
    Elastic(elastic::ElasticConfig),
    /// CEF over syslog.
    Syslog(syslog::Address),
}

/// Why a sink cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Hec(#[from] hec::HecError),
    #[error(transparent)]
    Elastic(#[from] elastic::ElasticError),
}

/// Sets up the sink `spec` describes; `name` replaces its default name (`kind:target`).
pub fn build(
    spec: &SinkSpec,
    name: Option<String>,
    ctx: ExportContext,
    retry: RetryPolicy,
) -> Result<Box<dyn Sink>, BuildError> {
    let sink: Box<dyn Sink> = match spec {
        SinkSpec::File {
            path,
            format,
            append,
        } => Box::new(file::FileSink::new(path.clone(), *format, *append, ctx)),
        SinkSpec::SplunkHec(c) => Box::new(hec::HecSink::new(c, ctx, retry)?),
        SinkSpec::Elastic(c) => Box::new(elastic::ElasticSink::new(c, ctx, retry)?),
        SinkSpec::Syslog(a) => Box::new(syslog::SyslogSink::new(
            format!("syslog:{}", a.url()),
            a.clone(),
            ctx,
            retry,
        )),
    };
    Ok(match name {
        Some(n) => Box::new(Named {
            name: n,
            inner: sink,
        }),
        None => sink,
    })
}

/// A sink under another name.
struct Named {
    name: String,
    inner: Box<dyn Sink>,
}

impl Sink for Named {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(
        &'a self,
        findings: &'a [Finding],
        evidence: &'a Evidence<'a>,
        tracker: &'a mut dyn Tracker,
    ) -> BoxFuture<'a, Delivery> {
        self.inner.send(findings, evidence, tracker)
    }
}

#[cfg(test)]
pub(crate) mod testdata {
    //! A finding and its events for the format tests.

    use crate::event::Event;
    use crate::findings::Finding;
    use crate::rules::Severity;

    /// A bearer call by a long-term key, with its raw record.
    pub fn event(id: &str, time: &str, ip: &str) -> Event {
        let raw = format!(
            r#"{{"eventID":"{id}","eventTime":"{time}","eventName":"InvokeModel","sourceIPAddress":"{ip}"}}"#
        );
        Event {
            event_id: Some(id.into()),
            event_time: crate::timefmt::parse_timestamp(time),
            event_source: Some("bedrock.amazonaws.com".into()),
            event_name: Some("InvokeModel".into()),
            aws_region: Some("us-east-1".into()),
            account_id: Some("111122223333".into()),
            source_ip: Some(ip.into()),
            user_agent: Some("curl/8.5.0".into()),
            identity_type: Some("IAMUser".into()),
            principal_id: Some("AIDAEXAMPLE".into()),
            principal_arn: Some("arn:aws:iam::111122223333:user/BedrockAPIKey-x7k2".into()),
            user_name: Some("BedrockAPIKey-x7k2".into()),
            bearer_token: true,
            model_id: Some("amazon.nova-pro-v1:0".into()),
            activity: Some("bearer_long_term"),
            source: "test".into(),
            raw: Some(raw),
            ..Event::default()
        }
    }

    /// A finding over the two sample events, with characters every format must escape.
    pub fn finding() -> Finding {
        let mut fields = serde_json::Map::new();
        fields.insert("user_name".into(), "BedrockAPIKey-x7k2".into());
        Finding {
            finding_id: "0123456789abcdef01234567".into(),
            rule_id: "key_used_after_revocation".into(),
            title: "Key used | after revocation".into(),
            severity: Severity::Critical,
            description: "A key = revoked\nwas used \\ again".into(),
            mitre: vec!["T1078.004".into()],
            evidence_event_ids: ["e-1", "e-2", "e-missing"].into_iter().collect(),
            evidence_count: 3,
            fields,
        }
    }

    /// A tracker that remembers what it was told.
    #[derive(Debug, Default)]
    pub struct Recorder {
        pub acks: Vec<Vec<usize>>,
        pub begun: Vec<String>,
        pub unfinished: Option<String>,
        pub lines: Vec<String>,
    }

    impl super::Tracker for Recorder {
        fn acknowledged(&mut self, indices: &[usize]) -> Result<(), String> {
            self.acks.push(indices.to_vec());
            Ok(())
        }

        fn begin(&mut self, mark: &str) -> Result<(), String> {
            self.begun.push(mark.to_string());
            Ok(())
        }

        fn unfinished(&self) -> Option<String> {
            self.unfinished.clone()
        }

        fn status(&mut self, line: &str) {
            self.lines.push(line.to_string());
        }
    }

    /// The two events the finding names (the third id has no event).
    pub fn events() -> Vec<Event> {
        vec![
            event("e-1", "2026-11-19T18:22:00Z", "203.0.113.45"),
            event("e-2", "2026-11-20T03:10:09Z", "198.51.100.23"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_finds_the_events_a_finding_names_in_order() {
        let events = testdata::events();
        let ev = Evidence::new(&events);
        let got: Vec<&str> = ev
            .of(&testdata::finding())
            .iter()
            .map(|e| e.event_id.as_deref().unwrap())
            .collect();
        assert_eq!(got, vec!["e-1", "e-2"]);
    }

    #[test]
    fn a_finding_is_filed_at_its_last_evidence_event_or_now() {
        let events = testdata::events();
        let refs: Vec<&Event> = events.iter().collect();
        let ctx = ExportContext {
            host: None,
            version: "0",
            now_ms: 7,
        };
        assert_eq!(finding_time(&refs, &ctx), 1_795_144_209_000);
        assert_eq!(
            seen_range(&refs),
            Some((1_795_112_520_000, 1_795_144_209_000))
        );
        assert_eq!(finding_time(&[], &ctx), 7);
    }

    #[test]
    fn deliveries_keep_distinct_reasons_and_know_when_complete() {
        let mut d = Delivery::failed("HTTP 400");
        d.error("HTTP 400");
        d.error("timeout");
        assert_eq!(d.errors.len(), 2);
        assert!(!d.complete(1));
        assert!(Delivery::all(3).complete(3));
    }
}
