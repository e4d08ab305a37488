//! A CloudTrail LookupEvents stand-in speaking AWS JSON 1.1: both `X-Amz-Target` spellings,
//! a SigV4 `Authorization` header required, lookup attributes, StartTime/EndTime, NextToken
//! paging, MaxResults at most 50, and a ThrottlingException when a region is called more
//! than twice in one second. The first calls can be made to fail on purpose (throttling,
//! 5xx, 4xx). It records every call so tests can check the rate held and count attempts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::{Req, Resp, respond, serve, sigv4_scope};

const TARGETS: &[&str] = &[
    "CloudTrail_20131101.LookupEvents",
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
];
const JSON11: &str = "application/x-amz-json-1.1";

/// One event the server holds.
#[derive(Debug, Clone)]
pub struct Served {
    pub region: String,
    pub time: f64,
    pub raw: Value,
}

impl Served {
    /// A CloudTrail record held for `region`, at its `eventTime`.
    pub fn new(region: &str, raw: Value) -> Served {
        let time = raw["eventTime"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .expect("record with an RFC 3339 eventTime")
            .timestamp() as f64;
        Served {
            region: region.to_string(),
            time,
            raw,
        }
    }
}

/// One call the server saw.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub region: String,
    pub access_key_id: String,
    pub target: String,
    pub attribute: Option<(String, String)>,
    pub throttled: bool,
}

/// The running server: its endpoint and what it saw.
pub struct LookupServer {
    pub endpoint: String,
    pub calls: Arc<Mutex<Vec<Call>>>,
}

impl LookupServer {
    /// Calls answered with ThrottlingException because the rate was exceeded.
    pub fn rate_violations(&self) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.throttled)
            .count()
    }

    /// The most calls any region got within one second.
    pub fn max_calls_per_second(&self) -> usize {
        self.max_calls_in_one_second(None)
    }

    /// The most calls one region (`Some`), or any region (`None`), got within one second.
    pub fn max_calls_in_one_second(&self, region: Option<&str>) -> usize {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| region.is_none_or(|r| c.region == r))
            .map(|c| {
                calls
                    .iter()
                    .filter(|d| {
                        d.region == c.region && d.at >= c.at && d.at - c.at < Duration::from_secs(1)
                    })
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}

/// Starts the server with `events`; the first `throttle_first` calls get a
/// ThrottlingException whatever the rate (to prove the client backs off and retries).
pub async fn start(events: Vec<Served>, throttle_first: usize) -> LookupServer {
    start_failing(events, vec![(400, "ThrottlingException"); throttle_first]).await
}

/// Starts the server with `events`; call number i (from 0) is answered with `failures[i]`
/// (HTTP status and AWS error code) whatever it asks, the calls after them normally.
pub async fn start_failing(
    events: Vec<Served>,
    failures: Vec<(u16, &'static str)>,
) -> LookupServer {
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let log = calls.clone();
    let mut events = events;
    events.sort_by(|a, b| b.time.total_cmp(&a.time));
    let addr = serve(move |req| handle(&req, &events, &log, &failures)).await;
    LookupServer {
        endpoint: format!("http://{addr}"),
        calls,
    }
}

/// An AWS JSON 1.1 error.
fn error(status: u16, kind: &str, msg: &str) -> Resp {
    respond(
        status,
        JSON11,
        json!({"__type": kind, "message": msg}).to_string(),
    )
}

/// Answers one request.
fn handle(
    req: &Req,
    events: &[Served],
    log: &Mutex<Vec<Call>>,
    failures: &[(u16, &'static str)],
) -> Resp {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if req.method() != "POST" || !TARGETS.contains(&target.as_str()) {
        return error(400, "UnknownOperationException", "unknown operation");
    }
    let Some((akid, region, service)) = sigv4_scope(req) else {
        return error(
            400,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        );
    };
    if service != "cloudtrail" {
        return error(
            400,
            "InvalidSignatureException",
            "credential scope names another service",
        );
    }
    let body: Value = match serde_json::from_slice(req.body()) {
        Ok(v) => v,
        Err(_) => return error(400, "SerializationException", "body is not JSON"),
    };
    let attribute = body["LookupAttributes"]
        .as_array()
        .and_then(|a| a.first())
        .map(|a| {
            (
                a["AttributeKey"].as_str().unwrap_or("").to_string(),
                a["AttributeValue"].as_str().unwrap_or("").to_string(),
            )
        });
    let now = Instant::now();
    let (throttled, forced) = {
        let mut calls = log.lock().unwrap();
        let recent = calls
            .iter()
            .filter(|c| c.region == region && now - c.at < Duration::from_secs(1))
            .count();
        let forced = failures.get(calls.len()).copied();
        let throttled = recent >= 2;
        calls.push(Call {
            at: now,
            region: region.clone(),
            access_key_id: akid,
            target,
            attribute: attribute.clone(),
            throttled: throttled && forced.is_none(),
        });
        (throttled, forced)
    };
    if let Some((status, code)) = forced {
        return error(status, code, "failure scripted by the test");
    }
    if throttled {
        return error(400, "ThrottlingException", "Rate exceeded");
    }
    let max = body["MaxResults"].as_i64().unwrap_or(50);
    if !(1..=50).contains(&max) {
        return error(
            400,
            "InvalidMaxResultsException",
            "MaxResults must be 1 to 50",
        );
    }
    let start = body["StartTime"].as_f64().unwrap_or(f64::MIN);
    let end = body["EndTime"].as_f64().unwrap_or(f64::MAX);
    let offset: usize = match body["NextToken"].as_str() {
        None => 0,
        Some(t) => match t.strip_prefix("page-").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return error(400, "InvalidNextTokenException", "bad NextToken"),
        },
    };
    let matching: Vec<&Served> = events
        .iter()
        .filter(|e| e.region == region && e.time >= start && e.time <= end)
        .filter(|e| attribute.as_ref().is_none_or(|(k, v)| matches(e, k, v)))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(max as usize)
        .map(|e| to_api_event(e))
        .collect();
    let mut out = json!({ "Events": page });
    if offset + (max as usize) < matching.len() {
        out["NextToken"] = json!(format!("page-{}", offset + max as usize));
    }
    respond(200, JSON11, out.to_string())
}

/// True when the event has the lookup attribute's value.
pub fn matches(e: &Served, key: &str, value: &str) -> bool {
    let r = &e.raw;
    let s = |v: &Value| v.as_str().map(str::to_string);
    let got = match key {
        "EventSource" => s(&r["eventSource"]),
        "EventName" => s(&r["eventName"]),
        "EventId" => s(&r["eventID"]),
        "Username" => s(&r["userIdentity"]["userName"])
            .or_else(|| s(&r["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"])),
        "AccessKeyId" => s(&r["userIdentity"]["accessKeyId"]),
        "ReadOnly" => r["readOnly"].as_bool().map(|b| b.to_string()),
        _ => None,
    };
    got.as_deref() == Some(value)
}

/// The event as LookupEvents returns it, with the record as a JSON string.
fn to_api_event(e: &Served) -> Value {
    let r = &e.raw;
    json!({
        "EventId": r["eventID"],
        "EventName": r["eventName"],
        "ReadOnly": r["readOnly"].as_bool().unwrap_or(false).to_string(),
        "AccessKeyId": r["userIdentity"]["accessKeyId"],
        "EventTime": e.time,
        "EventSource": r["eventSource"],
        "Username": r["userIdentity"]["userName"],
        "Resources": [],
        "CloudTrailEvent": r.to_string(),
    })
}

/// Management events of the sample logs (LookupEvents never returns data events), with
/// the region each was recorded in.
pub fn management_events() -> Vec<Served> {
    super::sample_delivery_files()
        .iter()
        .flat_map(|f| super::records_of(f))
        .filter(|r| r["eventCategory"] != "Data")
        .map(|r| {
            let region = r["awsRegion"].as_str().unwrap().to_string();
            Served::new(&region, r)
        })
        .collect()
}
