//! CEF over syslog: RFC 5424 messages
//! (`<PRI>1 TIMESTAMP HOST keytrail PROCID finding - CEF:0|...`), sent over TCP with
//! RFC 6587 octet-counting framing (`LEN SP MSG`) or over UDP, one message per datagram
//! (RFC 5426). Facility local4; the syslog severity follows the finding's.
//!
//! Acknowledgement: over TCP a chunk of messages counts as delivered once written and
//! flushed (a broken connection resends the chunk on a new one); over UDP once the datagram
//! was handed to the network, which is all UDP can tell.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use super::{BoxFuture, Delivery, Evidence, ExportContext, RetryPolicy, Sink, cef};
use crate::findings::Finding;
use crate::rules::Severity;

/// Facility local4 (20).
const FACILITY: u8 = 20;
/// Messages written between two flushes over TCP.
const TCP_CHUNK: usize = 100;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_507;

/// The transport of a syslog address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// `tcp://host:port` or `udp://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub transport: Transport,
    /// `host:port`, as given.
    pub host_port: String,
}

/// Parses a syslog address.
pub fn parse_address(s: &str) -> Result<Address, String> {
    let bad = || format!("{s:?} is not a syslog address: use tcp://host:port or udp://host:port");
    let (scheme, rest) = s.trim().split_once("://").ok_or_else(bad)?;
    let transport = match scheme.to_ascii_lowercase().as_str() {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        _ => return Err(bad()),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(Address {
        transport,
        host_port: rest.to_string(),
    })
}

/// The syslog severity of a finding: critical 2, high 3 (error), medium 4 (warning),
/// low 5 (notice), info 6.
pub fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// A HOSTNAME field: printable ASCII without spaces, at most 255 characters, or `-`.
fn header_host(host: Option<&str>) -> String {
    let h: String = host
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if h.is_empty() { "-".into() } else { h }
}

/// One RFC 5424 message carrying `msg`, stamped `ts_ms`.
pub fn rfc5424(
    severity: Severity,
    ts_ms: i64,
    host: Option<&str>,
    procid: u32,
    msg: &str,
) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(ts_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "-".into());
    format!(
        "<{}>1 {ts} {} keytrail {procid} finding - {msg}",
        FACILITY * 8 + syslog_severity(severity),
        header_host(host)
    )
}

/// RFC 6587 octet counting: the message's length in bytes, a space, the message.
pub fn octet_counted(msg: &str) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

/// Sends CEF records over syslog.
pub struct SyslogSink {
    name: String,
    address: Address,
    ctx: ExportContext,
    retry: RetryPolicy,
}

impl SyslogSink {
    /// A sink for `address` (`tcp://...` or `udp://...`).
    pub fn new(name: String, address: Address, ctx: ExportContext, retry: RetryPolicy) -> Self {
        SyslogSink {
            name,
            address,
            ctx,
            retry,
        }
    }

    /// The RFC 5424 message for a finding.
    fn message(&self, f: &Finding, evidence: &Evidence<'_>) -> String {
        let rec = cef::record(f, &evidence.of(f), &self.ctx);
        let pid = std::process::id();
        rfc5424(
            f.severity,
            self.ctx.now_ms,
            self.ctx.host.as_deref(),
            pid,
            &rec,
        )
    }

    /// Resolves the address.
    async fn resolve(&self) -> Result<SocketAddr, String> {
        tokio::net::lookup_host(&self.address.host_port)
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", self.address.host_port))?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", self.address.host_port))
    }

    /// Sends over TCP, chunk by chunk, reconnecting (with backoff) when a chunk fails.
    async fn send_tcp(&self, findings: &[Finding], evidence: &Evidence<'_>) -> Delivery {
        let mut d = Delivery::default();
        let mut stream: Option<TcpStream> = None;
        let mut retry = 0;
        let mut start = 0;
        while start < findings.len() {
            let end = (start + TCP_CHUNK).min(findings.len());
            let attempt = async {
                if stream.is_none() {
                    stream = Some(self.connect_tcp().await?);
                }
                let s = stream.as_mut().expect("connected above");
                for f in &findings[start..end] {
                    s.write_all(&octet_counted(&self.message(f, evidence)))
                        .await
                        .map_err(|e| format!("writing to {}: {e}", self.address.host_port))?;
                }
                s.flush()
                    .await
                    .map_err(|e| format!("writing to {}: {e}", self.address.host_port))
            };
            match attempt.await {
                Ok(()) => {
                    d.acknowledged.extend(start..end);
                    start = end;
                }
                Err(_) if retry < self.retry.retries => {
                    stream = None;
                    tokio::time::sleep(self.retry.delay(retry, None)).await;
                    retry += 1;
                }
                Err(e) => {
                    d.error(super::http::gave_up(retry, &e));
                    return d;
                }
            }
        }
        if let Some(mut s) = stream
            && let Err(e) = s.shutdown().await
        {
            // A failed close may mean the peer did not take everything: acknowledge nothing
            // (the job sends again next run; a duplicate beats a loss).
            d.error(format!(
                "closing the connection to {}: {e}",
                self.address.host_port
            ));
            d.acknowledged.clear();
        }
        d
    }

    /// Opens the TCP connection (10 s at most).
    async fn connect_tcp(&self) -> Result<TcpStream, String> {
        let addr = self.resolve().await?;
        match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(format!("cannot connect to {}: {e}", self.address.host_port)),
            Err(_) => Err(format!(
                "connecting to {} timed out",
                self.address.host_port
            )),
        }
    }

    /// Sends one datagram per message; a message that cannot be sent after the retries
    /// fails with the rest.
    async fn send_udp(&self, findings: &[Finding], evidence: &Evidence<'_>) -> Delivery {
        let mut d = Delivery::default();
        let target = match self.resolve().await {
            Ok(a) => a,
            Err(e) => return Delivery::failed(e),
        };
        let local = if target.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = match UdpSocket::bind(local).await {
            Ok(s) => s,
            Err(e) => return Delivery::failed(format!("cannot open a UDP socket: {e}")),
        };
        for (i, f) in findings.iter().enumerate() {
            let m = self.message(f, evidence);
            if m.len() > MAX_DATAGRAM {
                d.error(format!(
                    "a message of {} bytes does not fit in a UDP datagram",
                    m.len()
                ));
                continue;
            }
            let mut retry = 0;
            loop {
                match sock.send_to(m.as_bytes(), target).await {
                    Ok(_) => {
                        d.acknowledged.push(i);
                        break;
                    }
                    Err(_) if retry < self.retry.retries => {
                        tokio::time::sleep(self.retry.delay(retry, None)).await;
                        retry += 1;
                    }
                    Err(e) => {
                        let reason = format!("sending to {}: {e}", self.address.host_port);
                        d.error(super::http::gave_up(retry, &reason));
                        return d;
                    }
                }
            }
        }
        d
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(
        &'a self,
        findings: &'a [Finding],
        evidence: &'a Evidence<'a>,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            match self.address.transport {
                Transport::Tcp => self.send_tcp(findings, evidence).await,
                Transport::Udp => self.send_udp(findings, evidence).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_a_transport_host_and_port() {
        assert_eq!(
            parse_address("tcp://127.0.0.1:6514").unwrap(),
            Address {
                transport: Transport::Tcp,
                host_port: "127.0.0.1:6514".into()
            }
        );
        assert_eq!(
            parse_address("udp://[::1]:514").unwrap().host_port,
            "[::1]:514"
        );
        for bad in [
            "127.0.0.1:514",
            "tls://h:1",
            "tcp://h",
            "tcp://:514",
            "udp://h:0",
        ] {
            assert!(
                parse_address(bad).unwrap_err().contains("tcp://host:port"),
                "{bad}"
            );
        }
    }

    #[test]
    fn messages_follow_rfc5424_and_frames_count_octets() {
        let m = rfc5424(
            Severity::Critical,
            1_795_144_209_000,
            Some("my host"),
            42,
            "CEF:0|x",
        );
        assert_eq!(
            m,
            "<162>1 2026-11-20T03:10:09.000Z myhost keytrail 42 finding - CEF:0|x"
        );
        assert_eq!(
            rfc5424(Severity::Info, 0, None, 1, "x"),
            "<166>1 1970-01-01T00:00:00.000Z - keytrail 1 finding - x"
        );
        assert_eq!(octet_counted("é!"), b"3 \xc3\xa9!".to_vec());
    }
}
