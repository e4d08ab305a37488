//! Elasticsearch bulk API: `POST {url}/_bulk` with `Content-Type: application/x-ndjson`,
//! one `create` action (the only one data streams take) naming the index, plus one ECS
//! document per finding, the finding id as `_id` so a repeated delivery is refused as a
//! conflict instead of stored twice. The response is read item by item: 2xx and 409
//! (already there) are delivered, 429 and 5xx items are sent again, others are reported.

use base64::Engine;
use serde_json::Value;

use super::http::{Auth, HttpSetupError, HttpTarget, Outcome, base_url, gave_up, pause};
use super::secret::{Secret, SecretError, SecretSource};
use super::{BoxFuture, Delivery, Evidence, ExportContext, RetryPolicy, Sink, Tracker, ecs};
use crate::findings::Finding;

/// Documents per request, by default.
pub const DEFAULT_BATCH: usize = 100;

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum ElasticAuth {
    /// No `Authorization` header (a cluster without security, a local test node).
    None,
    /// `Authorization: ApiKey <encoded key>` (the `encoded` value Elasticsearch returns).
    ApiKey(SecretSource),
    /// `Authorization: Basic ...` for a user and password.
    Basic {
        user: String,
        password: SecretSource,
    },
}

/// Where documents go.
#[derive(Debug, Clone)]
pub struct ElasticConfig {
    /// `http://127.0.0.1:9200`.
    pub url: String,
    /// An index, alias or data stream.
    pub index: String,
    pub auth: ElasticAuth,
    /// Documents per request at most.
    pub batch_size: usize,
}

/// Why an Elasticsearch sink cannot be set up (the message is whole: no error source).
#[derive(Debug, thiserror::Error)]
pub enum ElasticError {
    #[error("Elasticsearch: {0}")]
    Http(HttpSetupError),
    #[error("Elasticsearch: {0}")]
    Secret(SecretError),
    #[error("Elasticsearch: {0}")]
    Index(String),
}

impl From<HttpSetupError> for ElasticError {
    fn from(e: HttpSetupError) -> Self {
        ElasticError::Http(e)
    }
}

impl From<SecretError> for ElasticError {
    fn from(e: SecretError) -> Self {
        ElasticError::Secret(e)
    }
}

/// Checks an index or data stream name against Elasticsearch's rules.
pub fn check_index(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("index name {name:?} {why}"));
    if name.is_empty() || name == "." || name == ".." {
        return bad("is not a name");
    }
    if name.len() > 255 {
        return bad("is longer than 255 bytes");
    }
    if name.starts_with(['-', '_', '+']) {
        return bad("must not start with -, _ or +");
    }
    if name.chars().any(|c| c.is_uppercase()) {
        return bad("must be lowercase");
    }
    if name.chars().any(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':'
        )
    }) {
        return bad("must not contain \\ / * ? \" < > | , # : or spaces");
    }
    Ok(())
}

/// The two bulk lines (action, document) for a finding: `create` into `index` with the
/// finding id as `_id`.
pub fn bulk_lines(f: &Finding, index: &str, doc: &Value) -> serde_json::Result<Vec<u8>> {
    let action = serde_json::json!({ "create": { "_index": index, "_id": f.finding_id } });
    let mut out = serde_json::to_vec(&action)?;
    out.push(b'\n');
    serde_json::to_writer(&mut out, doc)?;
    out.push(b'\n');
    Ok(out)
}

/// One item of a bulk response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    pub status: u16,
    /// `type: reason` of the item's error, when it has one.
    pub error: Option<String>,
}

impl ItemResult {
    /// Stored, or already stored (a conflict on the finding id).
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status) || self.status == 409
    }

    /// Worth sending again.
    pub fn retryable(&self) -> bool {
        self.status == 429 || self.status >= 500
    }
}

/// Reads a bulk response with `n` items.
pub fn parse_response(body: &str, n: usize) -> Result<Vec<ItemResult>, String> {
    let v: Value =
        serde_json::from_str(body).map_err(|_| "the bulk response is not JSON".to_string())?;
    let items = v["items"]
        .as_array()
        .ok_or("the bulk response has no items")?;
    if items.len() != n {
        return Err(format!(
            "the bulk response has {} items for {n} documents",
            items.len()
        ));
    }
    Ok(items
        .iter()
        .map(|item| {
            let inner = item
                .as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or(Value::Null);
            let error = inner.get("error").map(|e| {
                let t = e["type"].as_str().unwrap_or("error");
                match e["reason"].as_str() {
                    Some(r) => format!("{t}: {r}"),
                    None => t.to_string(),
                }
            });
            ItemResult {
                status: inner["status"].as_u64().unwrap_or(0) as u16,
                error,
            }
        })
        .collect())
}

/// Delivers ECS documents through the bulk API.
pub struct ElasticSink {
    name: String,
    index: String,
    target: HttpTarget,
    batch_size: usize,
    ctx: ExportContext,
    retry: RetryPolicy,
}

impl ElasticSink {
    /// Checks the URL and index and reads the credentials.
    pub fn new(
        cfg: &ElasticConfig,
        ctx: ExportContext,
        retry: RetryPolicy,
    ) -> Result<Self, ElasticError> {
        let base = base_url(&cfg.url)?;
        check_index(&cfg.index).map_err(ElasticError::Index)?;
        let url = format!("{base}/_bulk");
        let auth = match &cfg.auth {
            ElasticAuth::None => None,
            ElasticAuth::ApiKey(src) => {
                let key = Secret::load(src, "Elasticsearch API key")?;
                Some(Auth {
                    scheme: "ApiKey",
                    value: key.expose().to_string(),
                    secret: key,
                })
            }
            ElasticAuth::Basic { user, password } => {
                let pw = Secret::load(password, "Elasticsearch password")?;
                Some(Auth {
                    scheme: "Basic",
                    value: base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{}", pw.expose())),
                    secret: pw,
                })
            }
        };
        let target = HttpTarget::new(&url, "application/x-ndjson", auth)?;
        Ok(ElasticSink {
            name: format!("elastic:{base}/{}", cfg.index),
            index: cfg.index.clone(),
            target,
            batch_size: cfg.batch_size.max(1),
            ctx,
            retry,
        })
    }

    /// Sends one batch of (finding index, bulk lines), retrying what can be retried; what
    /// each response acknowledges is told to `tracker` at once. Returns false when later
    /// batches should not be tried (authentication, unreachable, the state failing).
    async fn send_batch(
        &self,
        batch: Vec<(usize, Vec<u8>)>,
        d: &mut Delivery,
        tracker: &mut dyn Tracker,
    ) -> bool {
        let mut pending = batch;
        let mut retry = 0;
        loop {
            let body: Vec<u8> = pending
                .iter()
                .flat_map(|(_, l)| l.iter().copied())
                .collect();
            let (reason, brief, after) = match self.target.post(body, &self.name, tracker).await {
                Outcome::Accepted(text) => match parse_response(&text, pending.len()) {
                    Err(e) => {
                        d.error(self.target.scrub(&e));
                        return true;
                    }
                    Ok(items) => {
                        let mut again = Vec::new();
                        let mut acked = Vec::new();
                        let mut why = (String::new(), String::new());
                        for ((i, lines), item) in pending.into_iter().zip(items) {
                            if item.delivered() {
                                acked.push(i);
                            } else {
                                let reason = format!(
                                    "a document was refused: HTTP {} {}",
                                    item.status,
                                    item.error.as_deref().unwrap_or("")
                                );
                                let reason = self.target.scrub(reason.trim_end());
                                if item.retryable() {
                                    why = (reason, format!("HTTP {} for a document", item.status));
                                    again.push((i, lines));
                                } else {
                                    d.error(reason);
                                }
                            }
                        }
                        let recorded = tracker.acknowledged(&acked);
                        d.acknowledged.extend(acked);
                        if let Err(e) = recorded {
                            d.error(e);
                            return false;
                        }
                        if again.is_empty() {
                            return true;
                        }
                        pending = again;
                        (why.0, why.1, None)
                    }
                },
                Outcome::Retryable {
                    reason,
                    brief,
                    after,
                } => (reason, brief, after),
                Outcome::Rejected { status, reason } => {
                    d.error(reason);
                    return !matches!(status, 401 | 403 | 404);
                }
                Outcome::Unreachable { reason } => {
                    d.error(reason);
                    return false;
                }
            };
            if retry >= self.retry.retries {
                d.error(gave_up(retry, &reason));
                return false;
            }
            pause(tracker, &self.name, &brief, retry, &self.retry, after).await;
            retry += 1;
        }
    }
}

impl Sink for ElasticSink {
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
            let mut batch: Vec<(usize, Vec<u8>)> = Vec::new();
            for (i, f) in findings.iter().enumerate() {
                let doc = ecs::document(f, &evidence.of(f), &self.ctx);
                match bulk_lines(f, &self.index, &doc) {
                    Ok(lines) => batch.push((i, lines)),
                    Err(e) => d.error(format!(
                        "finding {} cannot be written as JSON: {e}",
                        f.finding_id
                    )),
                }
                let last = i + 1 == findings.len();
                if !batch.is_empty() && (batch.len() >= self.batch_size || last) {
                    let go_on = self
                        .send_batch(std::mem::take(&mut batch), &mut d, tracker)
                        .await;
                    if !go_on {
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

    #[test]
    fn index_names_follow_elasticsearch_rules() {
        assert!(check_index("keytrail-findings").is_ok());
        assert!(check_index("logs-keytrail.alerts-default").is_ok());
        for bad in ["", "Upper", "_x", "a b", "a/b", "a:b"] {
            assert!(check_index(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bulk_lines_are_a_create_action_and_a_document() {
        let f = crate::sinks::testdata::finding();
        let lines = bulk_lines(&f, "k", &serde_json::json!({"a": 1})).unwrap();
        let text = String::from_utf8(lines).unwrap();
        assert_eq!(
            text,
            "{\"create\":{\"_index\":\"k\",\"_id\":\"0123456789abcdef01234567\"}}\n{\"a\":1}\n"
        );
    }

    #[test]
    fn bulk_responses_are_read_item_by_item() {
        let body = r#"{"took":3,"errors":true,"items":[
            {"create":{"_index":"k","_id":"a","status":201}},
            {"create":{"_index":"k","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"_index":"k","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"_index":"k","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad field"}}}]}"#;
        let items = parse_response(body, 4).unwrap();
        let delivered: Vec<bool> = items.iter().map(ItemResult::delivered).collect();
        assert_eq!(delivered, vec![true, true, false, false]);
        assert!(items[2].retryable() && !items[3].retryable());
        assert_eq!(
            items[3].error.as_deref(),
            Some("mapper_parsing_exception: bad field")
        );
        assert!(
            parse_response(body, 3)
                .unwrap_err()
                .contains("4 items for 3")
        );
        assert!(parse_response("nope", 1).is_err());
    }
}
