//! Flaky receivers for the kill test, what no real receiver does on demand: a Splunk HEC and
//! an Elasticsearch bulk endpoint that, by a seeded draw per request, answer 503 or drop the
//! connection without answering (before storing anything), and otherwise store and answer as
//! the real ones do (HEC checks the token; Elasticsearch refuses a repeated `_id` with 409);
//! and a syslog TCP collector that keeps every complete octet-counted frame, also from
//! connections cut in the middle of a frame (a killed sender).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A small seeded generator (splitmix64), so a failing run can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Which API a flaky endpoint speaks.
#[derive(Debug, Clone)]
pub enum Api {
    /// Splunk HEC, accepting only this token.
    Hec(String),
    /// The Elasticsearch bulk API.
    Elastic,
}

/// What a flaky endpoint saw and stored.
#[derive(Debug, Default)]
pub struct Seen {
    /// When false, every request fails (503 or a dropped connection) by the draw; when true,
    /// every request is served.
    pub healthy: bool,
    /// HEC: the stored event envelopes, in arrival order.
    pub hec_events: Vec<Value>,
    /// Elasticsearch: the stored documents by `_id`.
    pub docs: HashMap<String, Value>,
    /// Elasticsearch: `create` actions refused as repeats (409).
    pub conflicts: usize,
    /// Requests answered 503 / dropped without an answer.
    pub failed: usize,
    pub dropped: usize,
}

/// A running flaky endpoint.
pub struct FlakyHttp {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
}

/// Starts a flaky endpoint on 127.0.0.1: while not `healthy`, 1 request in 4 is answered
/// 503 and 1 in 5 dropped; every answer takes 10-40 ms.
pub async fn http(api: Api, seed: u64) -> FlakyHttp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let rng = Arc::new(Mutex::new(Rng::new(seed)));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(stream, api.clone(), s.clone(), rng.clone()));
        }
    });
    FlakyHttp {
        url: format!("http://{addr}"),
        seen,
    }
}

/// One request: the head (lowercased header names) and the body.
struct Request {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request with a Content-Length body; None at the end of the stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Some(Request { headers, body })
}

/// Serves one connection, request after request.
async fn serve(mut stream: TcpStream, api: Api, seen: Arc<Mutex<Seen>>, rng: Arc<Mutex<Rng>>) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut stream, &mut buf).await {
        let (draw, pause) = {
            let mut r = rng.lock().unwrap();
            (r.below(20), 10 + r.below(31))
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let healthy = seen.lock().unwrap().healthy;
        if !healthy && draw < 4 {
            seen.lock().unwrap().dropped += 1;
            return;
        }
        let (status, body) = if !healthy && draw < 9 {
            seen.lock().unwrap().failed += 1;
            (
                503,
                json!({"text": "Server is busy", "code": 9}).to_string(),
            )
        } else {
            answer(&api, &req, &mut seen.lock().unwrap())
        };
        let reason = match status {
            200 => "OK",
            403 => "Forbidden",
            400 => "Bad Request",
            _ => "Service Unavailable",
        };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Stores what a served request carries and answers as the real API does.
fn answer(api: &Api, req: &Request, seen: &mut Seen) -> (u16, String) {
    match api {
        Api::Hec(token) => {
            if req.headers.get("authorization") != Some(&format!("Splunk {token}")) {
                return (403, json!({"text": "Invalid token", "code": 4}).to_string());
            }
            let events: Result<Vec<Value>, _> = serde_json::Deserializer::from_slice(&req.body)
                .into_iter::<Value>()
                .collect();
            match events {
                Ok(ev) => {
                    seen.hec_events.extend(ev);
                    (200, json!({"text": "Success", "code": 0}).to_string())
                }
                Err(_) => (
                    400,
                    json!({"text": "Invalid data format", "code": 6}).to_string(),
                ),
            }
        }
        Api::Elastic => {
            let text = String::from_utf8_lossy(&req.body);
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("bulk line"))
                .collect();
            let mut items = Vec::new();
            for pair in lines.chunks(2) {
                let id = pair[0]["create"]["_id"].as_str().unwrap().to_string();
                let status = if seen.docs.contains_key(&id) {
                    seen.conflicts += 1;
                    409
                } else {
                    seen.docs.insert(id.clone(), pair[1].clone());
                    201
                };
                items.push(json!({"create": {"_id": id, "status": status}}));
            }
            (200, json!({"errors": false, "items": items}).to_string())
        }
    }
}

/// A syslog TCP collector that keeps every complete octet-counted frame.
pub struct Collector {
    pub address: String,
    pub messages: Arc<Mutex<Vec<String>>>,
}

/// Starts a collector on 127.0.0.1.
pub async fn syslog_tcp() -> Collector {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let messages: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = messages.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut chunk = [0u8; 65536];
                loop {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => data.extend_from_slice(&chunk[..n]),
                    }
                    let (frames, used) = complete_frames(&data);
                    log.lock().unwrap().extend(frames);
                    data.drain(..used);
                }
            });
        }
    });
    Collector {
        address: format!("tcp://{addr}"),
        messages,
    }
}

/// The complete `LEN SP MSG` frames at the start of `data`, and the bytes they take.
pub fn complete_frames(data: &[u8]) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(sp) = data[at..].iter().position(|b| *b == b' ') {
        let Some(len) = std::str::from_utf8(&data[at..at + sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        let start = at + sp + 1;
        if data.len() < start + len {
            break;
        }
        out.push(String::from_utf8_lossy(&data[start..start + len]).into_owned());
        at = start + len;
    }
    (out, at)
}
