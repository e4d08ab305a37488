//! HTTP delivery for the HEC and Elasticsearch sinks: one POST with its outcome classified
//! (accepted, worth retrying, rejected), and the retry loop around it. Messages carry the
//! status and a short, scrubbed piece of the response body; never a request header.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use super::Tracker;
use super::retry::{RetryPolicy, retry_after};
use super::secret::{Secret, has_userinfo, mask_url};

/// Longest piece of a response body quoted in a message.
const BODY_SNIPPET: usize = 300;
/// Waits at least this long are told on stderr.
pub const STATUS_AFTER: Duration = Duration::from_secs(2);

/// Why an HTTP sink cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("{0:?} is not a URL: use http://host:port or https://host:port")]
    BadUrl(String),
    #[error(
        "{0}: credentials in the URL are not accepted: pass them through the environment or a file"
    )]
    CredentialsInUrl(String),
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
}

/// The outcome of one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer, with its body.
    Accepted(String),
    /// A timeout, a reset connection, 429 or 5xx: worth another try (after `after`, if the
    /// server said). `brief` is a few words for status lines (`HTTP 503`).
    Retryable {
        reason: String,
        brief: String,
        after: Option<Duration>,
    },
    /// Any other answer: trying again will not help.
    Rejected { status: u16, reason: String },
    /// The destination cannot be reached and will not be on a retry: its name does not
    /// resolve, a literal address refuses connections, TLS fails. Every batch would fail alike.
    Unreachable { reason: String },
}

/// An `Authorization` header: `<scheme> <value>`, where `value` is the secret itself or
/// an encoding of it.
pub struct Auth {
    pub scheme: &'static str,
    pub value: String,
    pub secret: Secret,
}

/// A URL that findings are POSTed to, with its authorization.
pub struct HttpTarget {
    client: reqwest::Client,
    url: reqwest::Url,
    content_type: &'static str,
    /// The header, and the secret with its header form for scrubbing.
    auth: Option<(HeaderValue, Secret, String)>,
}

/// Parses and checks a base URL: http or https, no credentials in it, no trailing slash.
pub fn base_url(s: &str) -> Result<String, HttpSetupError> {
    let bad = || HttpSetupError::BadUrl(mask_url(s));
    if has_userinfo(s) {
        return Err(HttpSetupError::CredentialsInUrl(mask_url(s.trim())));
    }
    let u = reqwest::Url::parse(s.trim()).map_err(|_| bad())?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(bad());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(HttpSetupError::CredentialsInUrl(mask_url(s.trim())));
    }
    Ok(s.trim().trim_end_matches('/').to_string())
}

impl HttpTarget {
    /// A target POSTing `content_type` bodies to `url`, with `auth` when given.
    pub fn new(
        url: &str,
        content_type: &'static str,
        auth: Option<Auth>,
    ) -> Result<HttpTarget, HttpSetupError> {
        let url = reqwest::Url::parse(url).map_err(|_| HttpSetupError::BadUrl(mask_url(url)))?;
        let auth = match auth {
            None => None,
            Some(a) => {
                let mut h =
                    HeaderValue::from_str(&format!("{} {}", a.scheme, a.value)).map_err(|_| {
                        HttpSetupError::Client(
                            "the secret holds characters a header cannot carry".into(),
                        )
                    })?;
                h.set_sensitive(true);
                Some((h, a.secret, a.value))
            }
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("keytrail/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpSetupError::Client(e.to_string()))?;
        Ok(HttpTarget {
            client,
            url,
            content_type,
            auth,
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// `text` with the secret masked.
    pub fn scrub(&self, text: &str) -> String {
        match &self.auth {
            Some((_, secret, form)) => secret.scrub(text, &[form]),
            None => text.to_string(),
        }
    }

    /// POSTs `body` once and classifies the answer; a wait of more than 2 seconds for the
    /// answer is told to `tracker`.
    pub async fn post(&self, body: Vec<u8>, name: &str, tracker: &mut dyn Tracker) -> Outcome {
        let mut req = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, self.content_type)
            .body(body);
        if let Some((h, _, _)) = &self.auth {
            req = req.header(AUTHORIZATION, h.clone());
        }
        let what = format!("{name}: waiting for the answer of {}", self.url);
        let exchange = async {
            let resp = req.send().await?;
            let status = resp.status();
            let after = retry_after(
                resp.headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            );
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>((status, after, text))
        };
        let (status, after, text) = match watch(exchange, tracker, &what).await {
            Ok(answer) => answer,
            Err(e) => return self.network_error(&e),
        };
        if status.is_success() {
            return Outcome::Accepted(text);
        }
        let reason = self.scrub(&format!("HTTP {status}: {}", snippet(&text)));
        if status.as_u16() == 429 || status.is_server_error() {
            Outcome::Retryable {
                reason,
                brief: format!("HTTP {}", status.as_u16()),
                after,
            }
        } else {
            Outcome::Rejected {
                status: status.as_u16(),
                reason,
            }
        }
    }

    /// Classifies a failed exchange: permanent (DNS, refused by a literal address, TLS) or
    /// worth another try (timeouts, resets, refused by a name that may resolve elsewhere).
    fn network_error(&self, e: &reqwest::Error) -> Outcome {
        let reason = self.scrub(&format!("cannot reach {}: {}", self.url, chain(e)));
        let literal = self.url.host_str().is_some_and(is_ip_literal);
        let io_kind = io_kinds(e);
        if e.is_dns() {
            return Outcome::Unreachable {
                reason: format!("{reason} (the name does not resolve: check the URL)"),
            };
        }
        if e.is_connect() && literal && io_kind.contains(&std::io::ErrorKind::ConnectionRefused) {
            return Outcome::Unreachable {
                reason: format!("{reason} (nothing listens there: check the URL and port)"),
            };
        }
        if e.is_connect() && io_kind.contains(&std::io::ErrorKind::InvalidData) {
            return Outcome::Unreachable {
                reason: format!("{reason} (TLS failed: check the URL and the certificate)"),
            };
        }
        let brief = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "connection lost"
        };
        Outcome::Retryable {
            reason,
            brief: brief.into(),
            after: None,
        }
    }

    /// POSTs `body` until it is accepted, rejected, or `policy` runs out of retries; waits
    /// of 2 seconds or more are told to `tracker` (`HTTP 503, retry 2 of 4 in 4s`).
    pub async fn post_with_retry(
        &self,
        body: &[u8],
        policy: &RetryPolicy,
        name: &str,
        tracker: &mut dyn Tracker,
    ) -> Outcome {
        let mut retry = 0;
        loop {
            match self.post(body.to_vec(), name, tracker).await {
                Outcome::Retryable { after, brief, .. } if retry < policy.retries => {
                    pause(tracker, name, &brief, retry, policy, after).await;
                    retry += 1;
                }
                Outcome::Retryable {
                    reason,
                    brief,
                    after,
                } => {
                    return Outcome::Retryable {
                        reason: gave_up(retry, &reason),
                        brief,
                        after,
                    };
                }
                other => return other,
            }
        }
    }
}

/// Waits before retry number `retry`, telling `tracker` when the wait is 2 seconds or more.
pub async fn pause(
    tracker: &mut dyn Tracker,
    name: &str,
    brief: &str,
    retry: u32,
    policy: &RetryPolicy,
    hint: Option<Duration>,
) {
    let d = policy.delay(retry, hint);
    if d >= STATUS_AFTER {
        tracker.status(&format!(
            "{name}: {brief}, retry {} of {} in {}",
            retry + 1,
            policy.retries,
            seconds(d)
        ));
    }
    tokio::time::sleep(d).await;
}

/// Awaits `fut`; once it has taken 2 seconds, and every 10 seconds after, tells `tracker`
/// that `what` is still going on.
pub async fn watch<F: std::future::Future>(
    fut: F,
    tracker: &mut dyn Tracker,
    what: &str,
) -> F::Output {
    tokio::pin!(fut);
    let started = tokio::time::Instant::now();
    let mut next = STATUS_AFTER;
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = tokio::time::sleep_until(started + next) => {
                tracker.status(&format!("{what} ({} so far)", seconds(next)));
                next += Duration::from_secs(10);
            }
        }
    }
}

/// `4s`, `1.5s`, `250ms`.
fn seconds(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else if d >= Duration::from_secs(1) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// True for `127.0.0.1` and `[::1]`: an address, not a name that may resolve elsewhere.
pub fn is_ip_literal(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// The kinds of the I/O errors in an error's sources.
fn io_kinds(e: &dyn std::error::Error) -> Vec<std::io::ErrorKind> {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            out.push(io.kind());
        }
        cur = s.source();
    }
    out
}

/// The reason after the last retry failed.
pub fn gave_up(retries: u32, reason: &str) -> String {
    if retries == 0 {
        reason.to_string()
    } else {
        format!("{reason} (gave up after {} attempts)", retries + 1)
    }
}

/// An error and its sources on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

/// The start of a response body on one line.
pub fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let t = one_line.trim();
    if t.chars().count() <= BODY_SNIPPET {
        return t.to_string();
    }
    let cut: String = t.chars().take(BODY_SNIPPET).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_refuse_credentials_and_other_schemes() {
        assert_eq!(
            base_url("https://splunk.example:8088/").unwrap(),
            "https://splunk.example:8088"
        );
        let e = base_url("http://elastic:hunter2@127.0.0.1:9200")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && e.contains("environment"), "{e}");
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("not a url").is_err());
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet("a\nb"), "a b");
        assert!(snippet(&"x".repeat(1000)).ends_with("..."));
    }
}
