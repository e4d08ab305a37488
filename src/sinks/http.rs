//! HTTP delivery for the HEC and Elasticsearch sinks: one POST with its outcome classified
//! (accepted, worth retrying, rejected), and the retry loop around it. Messages carry the
//! status and a short, scrubbed piece of the response body; never a request header.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use super::retry::{RetryPolicy, retry_after};
use super::secret::Secret;

/// Longest piece of a response body quoted in a message.
const BODY_SNIPPET: usize = 300;

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
    /// A connection error, 429 or 5xx: worth another try (after `after`, if the server said).
    Retryable {
        reason: String,
        after: Option<Duration>,
    },
    /// Any other answer: trying again will not help.
    Rejected { status: u16, reason: String },
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
    let u = reqwest::Url::parse(s.trim()).map_err(|_| HttpSetupError::BadUrl(s.into()))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(HttpSetupError::BadUrl(s.into()));
    }
    if !u.username().is_empty() || u.password().is_some() {
        let mut shown = u.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(HttpSetupError::CredentialsInUrl(shown.to_string()));
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
        let url = reqwest::Url::parse(url).map_err(|_| HttpSetupError::BadUrl(url.into()))?;
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

    /// POSTs `body` once and classifies the answer.
    pub async fn post(&self, body: Vec<u8>) -> Outcome {
        let mut req = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, self.content_type)
            .body(body);
        if let Some((h, _, _)) = &self.auth {
            req = req.header(AUTHORIZATION, h.clone());
        }
        let sent = req.send().await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retryable {
                    reason: self.scrub(&format!("cannot reach {}: {}", self.url, chain(&e))),
                    after: None,
                };
            }
        };
        let status = resp.status();
        let after = retry_after(
            resp.headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return Outcome::Retryable {
                    reason: self.scrub(&format!(
                        "reading the answer of {}: {}",
                        self.url,
                        chain(&e)
                    )),
                    after: None,
                };
            }
        };
        if status.is_success() {
            return Outcome::Accepted(text);
        }
        let reason = self.scrub(&format!("HTTP {status}: {}", snippet(&text)));
        if status.as_u16() == 429 || status.is_server_error() {
            Outcome::Retryable { reason, after }
        } else {
            Outcome::Rejected {
                status: status.as_u16(),
                reason,
            }
        }
    }

    /// POSTs `body` until it is accepted, rejected, or `policy` runs out of retries.
    pub async fn post_with_retry(&self, body: &[u8], policy: &RetryPolicy) -> Outcome {
        let mut retry = 0;
        loop {
            match self.post(body.to_vec()).await {
                Outcome::Retryable { after, .. } if retry < policy.retries => {
                    tokio::time::sleep(policy.delay(retry, after)).await;
                    retry += 1;
                }
                Outcome::Retryable { reason, after } => {
                    return Outcome::Retryable {
                        reason: gave_up(retry, &reason),
                        after,
                    };
                }
                other => return other,
            }
        }
    }
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
fn chain(e: &dyn std::error::Error) -> String {
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
