//! SIEM receivers for the export tests: an HTTP endpoint that records every request and
//! answers from a script (Splunk HEC, Elasticsearch bulk), and syslog listeners over TCP
//! (RFC 6587 octet-counted frames) and UDP (one message per datagram).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::http::{self, Req, Resp};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A running HTTP receiver.
pub struct HttpReceiver {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl HttpReceiver {
    /// The requests so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Starts a receiver; `answer(n, request)` gives the status and JSON body of request `n`
/// (0-based).
pub async fn http_receiver<F>(answer: F) -> HttpReceiver
where
    F: Fn(usize, &Seen) -> (u16, String) + Send + Sync + 'static,
{
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let addr: SocketAddr = http::serve(move |req: Req| -> Resp {
        let s = Seen {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or("").to_string(),
                    )
                })
                .collect(),
            body: req.body().to_vec(),
        };
        let n = {
            let mut l = log.lock().unwrap();
            l.push(s.clone());
            l.len() - 1
        };
        let (status, body) = answer(n, &s);
        http::respond(status, "application/json", body)
    })
    .await;
    HttpReceiver {
        url: format!("http://{addr}"),
        seen,
    }
}

/// A running syslog listener and what it received, one message per entry.
pub struct SyslogListener {
    pub address: String,
    pub messages: Arc<Mutex<Vec<String>>>,
}

impl SyslogListener {
    /// The messages so far.
    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

/// Splits an RFC 6587 octet-counted stream into messages; panics on bad framing.
pub fn octet_frames(mut data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let sp = data
            .iter()
            .position(|b| *b == b' ')
            .expect("a frame starts with its length and a space");
        let len: usize = std::str::from_utf8(&data[..sp])
            .unwrap()
            .parse()
            .expect("the length is a number");
        let msg = &data[sp + 1..sp + 1 + len];
        out.push(String::from_utf8(msg.to_vec()).expect("UTF-8 message"));
        data = &data[sp + 1 + len..];
    }
    out
}

/// Accepts TCP connections and parses each stream's octet-counted frames once it ends.
pub async fn tcp_syslog() -> SyslogListener {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
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
                stream.read_to_end(&mut data).await.unwrap();
                log.lock().unwrap().extend(octet_frames(&data));
            });
        }
    });
    SyslogListener {
        address: format!("tcp://{addr}"),
        messages,
    }
}

/// Receives UDP datagrams, one message each.
pub async fn udp_syslog() -> SyslogListener {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let messages: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = messages.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((n, _)) = sock.recv_from(&mut buf).await else {
                return;
            };
            log.lock()
                .unwrap()
                .push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
    });
    SyslogListener {
        address: format!("udp://{addr}"),
        messages,
    }
}
