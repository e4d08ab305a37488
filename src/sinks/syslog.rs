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

use super::http::{gave_up, is_ip_literal, pause};
use super::secret::{has_userinfo, mask_url};
use super::{BoxFuture, Delivery, Evidence, ExportContext, RetryPolicy, Sink, Tracker, cef};
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

impl Address {
    /// `tcp://host:port` or `udp://host:port`.
    pub fn url(&self) -> String {
        let scheme = match self.transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        };
        format!("{scheme}://{}", self.host_port)
    }
}

/// Parses a syslog address. Credentials are refused (syslog has none) and never echoed.
pub fn parse_address(s: &str) -> Result<Address, String> {
    let shown = mask_url(s.trim());
    if has_userinfo(s) {
        return Err(format!(
            "{shown}: syslog takes no credentials: use tcp://host:port or udp://host:port (for authentication, relay through a local rsyslog or syslog-ng)"
        ));
    }
    let bad =
        || format!("{shown:?} is not a syslog address: use tcp://host:port or udp://host:port");
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

    /// Resolves the address; a name that does not resolve is permanent.
    async fn resolve(&self) -> Result<SocketAddr, Failure> {
        let hp = &self.address.host_port;
        tokio::net::lookup_host(hp)
            .await
            .map_err(|e| {
                Failure::permanent(format!("cannot resolve {hp}: {e} (check the address)"))
            })?
            .next()
            .ok_or_else(|| Failure::permanent(format!("{hp} resolves to no address")))
    }

    /// Sends over TCP, chunk by chunk, each chunk acknowledged once written and flushed;
    /// a chunk that fails is sent again on a new connection (with backoff).
    async fn send_tcp(
        &self,
        findings: &[Finding],
        evidence: &Evidence<'_>,
        tracker: &mut dyn Tracker,
    ) -> Delivery {
        let mut d = Delivery::default();
        let mut stream: Option<TcpStream> = None;
        let mut retry = 0;
        let mut start = 0;
        let hp = &self.address.host_port;
        while start < findings.len() {
            let end = (start + TCP_CHUNK).min(findings.len());
            let attempt = async {
                if stream.is_none() {
                    stream = Some(self.connect_tcp().await?);
                }
                let s = stream.as_mut().expect("connected above");
                let write = |e: std::io::Error| Failure::transient(format!("writing to {hp}: {e}"));
                for f in &findings[start..end] {
                    s.write_all(&octet_counted(&self.message(f, evidence)))
                        .await
                        .map_err(write)?;
                }
                s.flush().await.map_err(write)
            };
            match attempt.await {
                Ok(()) => {
                    let chunk: Vec<usize> = (start..end).collect();
                    let recorded = tracker.acknowledged(&chunk);
                    d.acknowledged.extend(chunk);
                    if let Err(e) = recorded {
                        d.error(e);
                        return d;
                    }
                    start = end;
                }
                Err(f) if !f.permanent && retry < self.retry.retries => {
                    stream = None;
                    pause(tracker, &self.name, &f.brief(), retry, &self.retry, None).await;
                    retry += 1;
                }
                Err(f) => {
                    d.error(gave_up(retry, &f.reason));
                    return d;
                }
            }
        }
        if let Some(mut s) = stream {
            // Everything was flushed to the connection and acknowledged; a failed close
            // cannot take that back.
            let _ = s.shutdown().await;
        }
        d
    }

    /// Opens the TCP connection (10 s at most); refused by a literal address is permanent.
    async fn connect_tcp(&self) -> Result<TcpStream, Failure> {
        let addr = self.resolve().await?;
        let hp = &self.address.host_port;
        match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e))
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && is_ip_literal(hp.rsplit_once(':').map_or(hp.as_str(), |(h, _)| h)) =>
            {
                Err(Failure::permanent(format!(
                    "cannot connect to {hp}: {e} (nothing listens there: check the address and port)"
                )))
            }
            Ok(Err(e)) => Err(Failure::transient(format!("cannot connect to {hp}: {e}"))),
            Err(_) => Err(Failure::transient(format!("connecting to {hp} timed out"))),
        }
    }

    /// Sends one datagram per message, each acknowledged once handed to the network; a
    /// message that cannot be sent after the retries fails with the rest.
    async fn send_udp(
        &self,
        findings: &[Finding],
        evidence: &Evidence<'_>,
        tracker: &mut dyn Tracker,
    ) -> Delivery {
        let mut d = Delivery::default();
        let target = match self.resolve().await {
            Ok(a) => a,
            Err(f) => return Delivery::failed(f.reason),
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
                        let recorded = tracker.acknowledged(&[i]);
                        d.acknowledged.push(i);
                        if let Err(e) = recorded {
                            d.error(e);
                            return d;
                        }
                        break;
                    }
                    Err(_) if retry < self.retry.retries => {
                        pause(tracker, &self.name, "cannot send", retry, &self.retry, None).await;
                        retry += 1;
                    }
                    Err(e) => {
                        let reason = format!("sending to {}: {e}", self.address.host_port);
                        d.error(gave_up(retry, &reason));
                        return d;
                    }
                }
            }
        }
        d
    }
}

/// Why sending over syslog failed, and whether trying again can help.
struct Failure {
    reason: String,
    permanent: bool,
}

impl Failure {
    fn permanent(reason: String) -> Failure {
        Failure {
            reason,
            permanent: true,
        }
    }

    fn transient(reason: String) -> Failure {
        Failure {
            reason,
            permanent: false,
        }
    }

    /// The reason up to its first colon, for status lines.
    fn brief(&self) -> String {
        self.reason
            .split(": ")
            .next()
            .unwrap_or(&self.reason)
            .to_string()
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
        tracker: &'a mut dyn Tracker,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            match self.address.transport {
                Transport::Tcp => self.send_tcp(findings, evidence, tracker).await,
                Transport::Udp => self.send_udp(findings, evidence, tracker).await,
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
    fn credentials_in_an_address_are_refused_without_being_echoed() {
        let e = parse_address("tcp://user:PASS@siem:514").unwrap_err();
        assert!(
            !e.contains("PASS") && e.contains("tcp://user:***@siem:514"),
            "{e}"
        );
        let e = parse_address("tcp//user:PASS@siem:514").unwrap_err();
        assert!(!e.contains("PASS"), "{e}");
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
