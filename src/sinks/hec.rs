//! Splunk HTTP Event Collector: `POST {url}/services/collector/event` with
//! `Authorization: Splunk <token>`, several event envelopes concatenated in one body
//! (`{"time", "host", "source": "keytrail", "sourcetype", "index", "event": <finding>}`),
//! batches bounded in count and bytes. A batch counts as delivered on HTTP 2xx.

use serde_json::{Map, Value};

use super::http::{Auth, HttpSetupError, HttpTarget, Outcome, base_url};
use super::secret::{Secret, SecretError, SecretSource};
use super::{
    BoxFuture, Delivery, Evidence, ExportContext, RetryPolicy, Sink, Tracker, finding_time,
};
use crate::event::Event;
use crate::findings::Finding;

/// The default `sourcetype`.
pub const DEFAULT_SOURCETYPE: &str = "keytrail:finding";
/// The collector path appended to the base URL.
pub const EVENT_PATH: &str = "/services/collector/event";
/// Envelopes per request, by default.
pub const DEFAULT_BATCH: usize = 100;
/// A batch is sent once its body reaches this size.
pub const MAX_BATCH_BYTES: usize = 512 * 1024;

/// How to reach a collector.
#[derive(Debug, Clone)]
pub struct HecConfig {
    /// `https://splunk.example:8088` (the collector path is added unless present).
    pub url: String,
    pub token: SecretSource,
    pub sourcetype: String,
    pub index: Option<String>,
    /// Envelopes per request at most.
    pub batch_size: usize,
}

/// Why a HEC sink cannot be set up (the message is whole: no error source to repeat).
#[derive(Debug, thiserror::Error)]
pub enum HecError {
    #[error("Splunk HEC: {0}")]
    Http(HttpSetupError),
    #[error("Splunk HEC: {0}")]
    Token(SecretError),
}

impl From<HttpSetupError> for HecError {
    fn from(e: HttpSetupError) -> Self {
        HecError::Http(e)
    }
}

impl From<SecretError> for HecError {
    fn from(e: SecretError) -> Self {
        HecError::Token(e)
    }
}

/// The full event endpoint for a base URL.
pub fn endpoint(base: &str) -> String {
    if base.ends_with(EVENT_PATH) {
        base.to_string()
    } else {
        format!("{base}{EVENT_PATH}")
    }
}

/// One HEC event envelope around a finding.
pub fn envelope(
    f: &Finding,
    events: &[&Event],
    ctx: &ExportContext,
    sourcetype: &str,
    index: Option<&str>,
) -> Value {
    let mut m = Map::new();
    let secs = finding_time(events, ctx) as f64 / 1000.0;
    m.insert(
        "time".into(),
        serde_json::Number::from_f64(secs).map_or(Value::Null, Value::Number),
    );
    if let Some(h) = &ctx.host {
        m.insert("host".into(), h.clone().into());
    }
    m.insert("source".into(), "keytrail".into());
    m.insert("sourcetype".into(), sourcetype.into());
    if let Some(i) = index {
        m.insert("index".into(), i.into());
    }
    m.insert(
        "event".into(),
        serde_json::to_value(f).unwrap_or(Value::Null),
    );
    Value::Object(m)
}

/// Delivers findings to a collector.
pub struct HecSink {
    name: String,
    target: HttpTarget,
    sourcetype: String,
    index: Option<String>,
    batch_size: usize,
    ctx: ExportContext,
    retry: RetryPolicy,
}

impl HecSink {
    /// Checks the URL and reads the token.
    pub fn new(cfg: &HecConfig, ctx: ExportContext, retry: RetryPolicy) -> Result<Self, HecError> {
        let base = base_url(&cfg.url)?;
        let token = Secret::load(&cfg.token, "HEC token")?;
        let auth = Auth {
            scheme: "Splunk",
            value: token.expose().to_string(),
            secret: token,
        };
        let target = HttpTarget::new(&endpoint(&base), "application/json", Some(auth))?;
        Ok(HecSink {
            name: format!("splunk-hec:{base}"),
            target,
            sourcetype: cfg.sourcetype.clone(),
            index: cfg.index.clone().filter(|i| !i.is_empty()),
            batch_size: cfg.batch_size.max(1),
            ctx,
            retry,
        })
    }

    /// Sends one batch body; returns why it failed and whether to stop sending.
    async fn send_batch(
        &self,
        body: &[u8],
        tracker: &mut dyn Tracker,
    ) -> Result<(), (String, bool)> {
        match self
            .target
            .post_with_retry(body, &self.retry, &self.name, tracker)
            .await
        {
            Outcome::Accepted(_) => Ok(()),
            Outcome::Retryable { reason, .. } | Outcome::Unreachable { reason } => {
                Err((reason, true))
            }
            // Authentication and a wrong URL fail every batch alike: stop at the first.
            Outcome::Rejected { status, reason } => {
                Err((reason, matches!(status, 401 | 403 | 404)))
            }
        }
    }
}

impl Sink for HecSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(
        &'a self,
        findings: &'a [Finding],
        evidence: &'a Evidence<'a>,
        tracker: &'a mut dyn Tracker,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let mut d = Delivery::default();
            let mut body: Vec<u8> = Vec::new();
            let mut batch: Vec<usize> = Vec::new();
            for (i, f) in findings.iter().enumerate() {
                let env = envelope(
                    f,
                    &evidence.of(f),
                    &self.ctx,
                    &self.sourcetype,
                    self.index.as_deref(),
                );
                match serde_json::to_vec(&env) {
                    Ok(line) => {
                        body.extend_from_slice(&line);
                        body.push(b'\n');
                        batch.push(i);
                    }
                    Err(e) => d.error(format!(
                        "finding {} cannot be written as JSON: {e}",
                        f.finding_id
                    )),
                }
                let last = i + 1 == findings.len();
                let full = batch.len() >= self.batch_size || body.len() >= MAX_BATCH_BYTES;
                if !batch.is_empty() && (full || last) {
                    let stop = match self.send_batch(&body, tracker).await {
                        Ok(()) => match tracker.acknowledged(&batch) {
                            Ok(()) => {
                                d.acknowledged.append(&mut batch);
                                false
                            }
                            Err(e) => {
                                d.acknowledged.append(&mut batch);
                                d.error(e);
                                true
                            }
                        },
                        Err((reason, stop)) => {
                            d.error(reason);
                            batch.clear();
                            stop
                        }
                    };
                    body.clear();
                    if stop {
                        if !last {
                            d.error("the remaining findings were not sent");
                        }
                        break;
                    }
                }
            }
            d.normalize()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testdata;

    #[test]
    fn the_collector_path_is_added_once() {
        assert_eq!(
            endpoint("https://splunk.example:8088"),
            "https://splunk.example:8088/services/collector/event"
        );
        assert_eq!(
            endpoint("https://s:8088/services/collector/event"),
            "https://s:8088/services/collector/event"
        );
    }

    #[test]
    fn an_envelope_carries_time_host_source_sourcetype_index_and_the_finding() {
        let events = testdata::events();
        let refs: Vec<&Event> = events.iter().collect();
        let f = testdata::finding();
        let ctx = ExportContext {
            host: Some("collector-host".into()),
            version: "0",
            now_ms: 0,
        };
        let e = envelope(&f, &refs, &ctx, "keytrail:finding", Some("security"));
        assert_eq!(e["time"], 1_795_144_209.0);
        assert_eq!(e["host"], "collector-host");
        assert_eq!(e["source"], "keytrail");
        assert_eq!(e["sourcetype"], "keytrail:finding");
        assert_eq!(e["index"], "security");
        let back: Finding = serde_json::from_value(e["event"].clone()).unwrap();
        assert_eq!(back, f);
        let no_index = envelope(&f, &refs, &ctx, "st", None);
        assert!(no_index.get("index").is_none());
    }
}
