//! AWS errors turned into one-line messages that say what failed, why, and what to do: which
//! permission on which resource, refresh expired credentials, wrong region, missing bucket,
//! no credentials, an endpoint that cannot be resolved or refuses connections. Which failures
//! are worth another attempt ([`AwsCallError::is_transient`]) is decided here too. The SDK's
//! own error text (long, with Rust debug output) is kept aside for `-v`, secrets masked.

use std::error::Error;
use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;

/// What a failed call was doing, so the message can name the permission and resource.
#[derive(Debug, Clone)]
pub struct CallSite {
    /// The IAM action the call needs, e.g. `s3:ListBucket`.
    pub permission: &'static str,
    /// The resource, e.g. `arn:aws:s3:::bucket` or `CloudTrail in us-east-1`.
    pub resource: String,
}

/// Where a service's calls go: an endpoint override (`--endpoint-url`, `AWS_ENDPOINT_URL*`,
/// the profile's `endpoint_url`) or AWS's own endpoint for the service in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The service as AWS names its endpoints (`s3`, `cloudtrail`, `sts`).
    pub service: &'static str,
    pub region: String,
    /// The override URL, when there is one.
    pub url: Option<String>,
}

impl Endpoint {
    /// The host (and port, when given) the calls connect to.
    pub fn host(&self) -> String {
        match &self.url {
            Some(u) => {
                let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
                let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
                authority
                    .rsplit('@')
                    .next()
                    .unwrap_or(authority)
                    .to_string()
            }
            None => format!("{}.{}.amazonaws.com", self.service, self.region),
        }
    }

    /// The host name or address alone, without the port.
    pub fn host_name(&self) -> String {
        let host = self.host();
        match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6).to_string(),
            None => host
                .rsplit_once(':')
                .map_or(host.clone(), |(h, _)| h.to_string()),
        }
    }

    /// True when the override names an IP address, not a host name: a refused connection
    /// there will not be answered by another address on the next attempt.
    pub fn is_literal_ip(&self) -> bool {
        self.url.is_some() && self.host_name().parse::<std::net::IpAddr>().is_ok()
    }

    /// The endpoint as messages name it.
    pub fn describe(&self) -> String {
        match &self.url {
            Some(u) => format!("the endpoint {}", mask_secrets(u)),
            None => format!("the AWS {} endpoint in {}", self.service, self.region),
        }
    }

    /// A key for remembering that an endpoint is down (override URL, or service and region).
    pub fn key(&self) -> String {
        match &self.url {
            Some(_) => self.host(),
            None => format!("{}/{}", self.service, self.region),
        }
    }
}

/// The kinds of failure a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AccessDenied,
    ExpiredCredentials,
    InvalidCredentials,
    /// No provider in the chain had credentials.
    NoCredentials,
    /// A provider failed while resolving credentials (AssumeRole refused, SSO expired, ...).
    CredentialsFailed,
    NoSuchBucket,
    WrongRegion,
    Throttled,
    /// HTTP 5xx (other than a throttling answer).
    ServerError,
    /// HTTP 4xx other than throttling and the kinds above: the request itself is refused.
    Refused4xx,
    /// The answer was not an AWS answer (an HTML page, a proxy's error).
    BadResponse,
    /// The endpoint's host name does not resolve.
    Dns,
    /// Nothing listens at the endpoint.
    ConnectionRefused,
    /// No answer in time.
    Timeout,
    /// The connection broke (reset, closed, TLS failure).
    Connection,
    Other,
}

/// A failed AWS call, with a message that says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub struct AwsCallError {
    pub kind: ErrorKind,
    pub site: CallSite,
    pub endpoint: Endpoint,
    /// The AWS error code, when there was one.
    pub code: Option<String>,
    /// The region the bucket really is in, when AWS said so.
    pub bucket_region: Option<String>,
    /// AWS's own words (the error message, or the innermost cause), on one line.
    pub detail: String,
    /// HTTP status, when a response came back.
    pub status: Option<u16>,
    /// Attempts made (1 when the failure was not retried).
    pub attempts: u32,
    /// The SDK's full error text, secrets masked: shown only with `-v`.
    pub sdk: String,
}

impl fmt::Display for AwsCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.site;
        let what = format!("{} on {}", s.permission, s.resource);
        let ep = self.endpoint.describe();
        let host = self.endpoint.host();
        let after = match self.attempts {
            0 | 1 => String::new(),
            n => format!(" after {n} attempts"),
        };
        match self.kind {
            ErrorKind::AccessDenied => write!(
                f,
                "access denied: the caller needs {what}; grant it to the identity keytrail runs as (see the least-privilege policy in the README)"
            )?,
            ErrorKind::ExpiredCredentials => write!(
                f,
                "the AWS credentials have expired: refresh them (`aws sso login --profile NAME` for SSO, new session keys otherwise) and run again"
            )?,
            ErrorKind::InvalidCredentials => write!(
                f,
                "AWS rejected the credentials for {what}: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or the profile; in an opt-in region, check it is enabled for the account"
            )?,
            ErrorKind::NoCredentials => {
                write!(
                    f,
                    "no AWS credentials found: use --profile NAME (or AWS_PROFILE), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance, task or web-identity role is available; `keytrail doctor` checks the set-up"
                )?;
                if !self.detail.is_empty() {
                    write!(f, " (last tried: {})", self.detail)?;
                }
                return Ok(());
            }
            ErrorKind::CredentialsFailed => {
                return write!(
                    f,
                    "resolving the AWS credentials failed: {}; check the profile, the role (--role-arn, its trust policy, --external-id) and the STS endpoint, or run `keytrail doctor`",
                    self.detail
                );
            }
            ErrorKind::NoSuchBucket => write!(
                f,
                "bucket {} does not exist: check the name after s3://",
                s.resource.trim_start_matches("arn:aws:s3:::")
            )?,
            ErrorKind::WrongRegion => match &self.bucket_region {
                Some(r) => write!(f, "{} is in region {r}: pass --region {r}", s.resource)?,
                None => write!(
                    f,
                    "{} is in another region: pass --region with the bucket's region",
                    s.resource
                )?,
            },
            ErrorKind::Throttled => write!(
                f,
                "AWS kept throttling {what}{after}: lower --concurrency or run again later"
            )?,
            ErrorKind::ServerError => write!(
                f,
                "{ep} answered HTTP {} to {what}{after}: the service is having trouble; run again later",
                self.status.unwrap_or(500)
            )?,
            ErrorKind::Refused4xx => write!(
                f,
                "{what} was refused with HTTP {} (not retried): check the input and the endpoint",
                self.status.unwrap_or(400)
            )?,
            ErrorKind::BadResponse => {
                return write!(
                    f,
                    "{ep} did not answer {what} like AWS does ({}): check --endpoint-url and the AWS_ENDPOINT_URL* variables, or a proxy in between",
                    self.detail
                );
            }
            ErrorKind::Dns => {
                return write!(
                    f,
                    "cannot resolve {} for {what}: {}",
                    self.endpoint.host_name(),
                    if self.endpoint.url.is_some() {
                        "check the host name in the endpoint override (--endpoint-url, AWS_ENDPOINT_URL*, the profile) and the network's DNS"
                    } else {
                        "check the region and the network's DNS (and any proxy)"
                    }
                );
            }
            ErrorKind::ConnectionRefused => {
                return write!(
                    f,
                    "{host} refused the connection for {what}{after}: {}",
                    if self.endpoint.url.is_some() {
                        "nothing listens there; start the server or fix the endpoint override (--endpoint-url, AWS_ENDPOINT_URL*)"
                    } else {
                        "check the network, a firewall or proxy (HTTPS_PROXY)"
                    }
                );
            }
            ErrorKind::Timeout => {
                return write!(
                    f,
                    "no answer from {ep} for {what}{after}: check the network, proxy settings (HTTPS_PROXY) or the endpoint override"
                );
            }
            ErrorKind::Connection => {
                return write!(
                    f,
                    "the connection to {ep} failed for {what}{after} ({}): check the network, proxy settings or the endpoint override",
                    self.detail
                );
            }
            ErrorKind::Other => {
                return write!(
                    f,
                    "{what} failed: {}; run again with -v for the AWS SDK's details",
                    self.detail
                );
            }
        }
        match &self.code {
            Some(c) if self.detail.is_empty() => write!(f, " [{c}]"),
            Some(c) => write!(f, " [{c}: {}]", self.detail),
            None if self.detail.is_empty() => Ok(()),
            None => write!(f, " [{}]", self.detail),
        }
    }
}

impl AwsCallError {
    /// True when trying again later can succeed: throttling, 5xx, timeouts, broken
    /// connections, and a refused connection to a host name (another address may answer).
    /// Never: DNS failures, a refusal from a literal address, other 4xx, credentials.
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ErrorKind::Throttled
            | ErrorKind::ServerError
            | ErrorKind::Timeout
            | ErrorKind::Connection => true,
            ErrorKind::ConnectionRefused => !self.endpoint.is_literal_ip(),
            _ => false,
        }
    }

    /// True when the endpoint itself is out of reach, so every call to it will fail alike.
    pub fn endpoint_down(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Dns | ErrorKind::ConnectionRefused | ErrorKind::Timeout
        )
    }

    /// True when no call can succeed because the credentials cannot be had.
    pub fn credentials_down(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::NoCredentials | ErrorKind::CredentialsFailed
        )
    }

    /// The message: one line, or with `verbose` the SDK's full error text on a second line.
    pub fn message(&self, verbose: bool) -> String {
        if verbose && !self.sdk.is_empty() {
            format!("{self}\n    AWS SDK: {}", self.sdk)
        } else {
            self.to_string()
        }
    }

    /// The failure in a few words, for status lines while retrying.
    pub fn brief(&self) -> String {
        match (self.kind, &self.code, self.status) {
            (ErrorKind::Throttled, Some(c), _) => format!("throttled ({c})"),
            (ErrorKind::ServerError, c, s) => format!(
                "HTTP {}{}",
                s.unwrap_or(500),
                c.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
            ),
            (ErrorKind::Timeout, ..) => "no answer in time".into(),
            (ErrorKind::ConnectionRefused, ..) => "connection refused".into(),
            (ErrorKind::Connection, ..) => format!("connection failed: {}", self.detail),
            (_, Some(c), _) => c.clone(),
            _ => self.detail.clone(),
        }
    }
}

/// Classifies an SDK error for the given call site and endpoint.
pub fn classify<E>(
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    site: CallSite,
    endpoint: &Endpoint,
) -> AwsCallError
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let code = err.code().map(str::to_string);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let bucket_region = err
        .raw_response()
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .map(str::to_string);
    let sdk = mask_secrets(&DisplayErrorContext(err).to_string());
    let root = innermost(err);
    let (mut kind, from_chain) = match kind_of(err, code.as_deref(), status) {
        Some(k) => (k, None),
        None => chain_kind(err),
    };
    if code.as_deref() == Some("NotFound") && site.permission == "s3:ListBucket" {
        kind = ErrorKind::NoSuchBucket; // HeadBucket answers a bare 404
    }
    let detail = match (err.message(), &from_chain, status) {
        (Some(m), ..) => one_line(m),
        (None, Some(d), _) => one_line(d),
        (None, None, Some(s)) if kind == ErrorKind::BadResponse => {
            format!("HTTP {s}: {}", one_line(&root))
        }
        (None, None, Some(s)) => format!("HTTP {s}"),
        (None, None, None) => one_line(&root),
    };
    AwsCallError {
        kind,
        site,
        endpoint: endpoint.clone(),
        code,
        bucket_region,
        detail: mask_secrets(&detail),
        status,
        attempts: 1,
        sdk,
    }
}

/// The kind from the error code and the HTTP status, when a response came back.
fn kind_of<E, R>(
    err: &SdkError<E, R>,
    code: Option<&str>,
    status: Option<u16>,
) -> Option<ErrorKind> {
    let by_code = match code {
        Some(
            "AccessDenied"
            | "AccessDeniedException"
            | "AllAccessDisabled"
            | "UnauthorizedOperation",
        ) => Some(ErrorKind::AccessDenied),
        Some(
            "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" | "RequestExpired",
        ) => Some(ErrorKind::ExpiredCredentials),
        Some(
            "InvalidAccessKeyId"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "InvalidToken"
            | "InvalidSignatureException"
            | "MissingAuthenticationToken"
            | "MissingAuthenticationTokenException",
        ) => Some(ErrorKind::InvalidCredentials),
        Some("NoSuchBucket") => Some(ErrorKind::NoSuchBucket),
        Some(
            "PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException",
        ) => Some(ErrorKind::WrongRegion),
        Some(
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "ProvisionedThroughputExceededException",
        ) => Some(ErrorKind::Throttled),
        _ => None,
    };
    if by_code.is_some() {
        return by_code;
    }
    let response_broken = matches!(err, SdkError::ResponseError(_));
    match status {
        Some(403) => Some(ErrorKind::AccessDenied),
        Some(301) => Some(ErrorKind::WrongRegion),
        Some(404) if code.is_none() && !response_broken => Some(ErrorKind::NoSuchBucket),
        Some(429 | 503) => Some(ErrorKind::Throttled),
        Some(s) if s >= 500 => Some(ErrorKind::ServerError),
        Some(_) if response_broken => Some(ErrorKind::BadResponse),
        Some(s) if s >= 400 => Some(ErrorKind::Refused4xx),
        Some(_) => Some(ErrorKind::BadResponse),
        None => None,
    }
}

/// The kind from the error chain when no response came back (credentials, network), with
/// the words worth quoting.
fn chain_kind<E, R>(err: &SdkError<E, R>) -> (ErrorKind, Option<String>)
where
    E: Error + 'static,
    R: fmt::Debug + 'static,
{
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return match c {
                CredentialsError::CredentialsNotLoaded(_) => (ErrorKind::NoCredentials, None),
                // The chain ends with the instance role: IMDS refusing or absent means no
                // provider had credentials, not that a configured one broke.
                other if is_imds_refusal(other) => {
                    (ErrorKind::NoCredentials, Some(credentials_cause(other)))
                }
                other => (ErrorKind::CredentialsFailed, Some(credentials_cause(other))),
            };
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return (ErrorKind::ConnectionRefused, None),
                K::TimedOut => return (ErrorKind::Timeout, None),
                _ => {}
            }
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return (ErrorKind::Dns, None);
        }
        cur = e.source();
    }
    match err {
        SdkError::TimeoutError(_) => (ErrorKind::Timeout, None),
        SdkError::DispatchFailure(d) if d.is_timeout() => (ErrorKind::Timeout, None),
        SdkError::DispatchFailure(d) if d.is_io() => (ErrorKind::Connection, Some(innermost(err))),
        _ => (ErrorKind::Other, None),
    }
}

/// True when the error is the instance metadata service (the chain's last provider)
/// refusing or disabled, which is how "no credentials anywhere" ends on many hosts.
fn is_imds_refusal(c: &CredentialsError) -> bool {
    let text = credentials_cause(c).to_ascii_lowercase();
    text.contains("imds is disabled") || text.contains("imds") && text.contains("forbidden")
}

/// What went wrong inside a credentials provider, in the words of its innermost cause (an
/// AssumeRole refusal, an expired SSO token, an unreachable STS).
pub fn credentials_cause(c: &CredentialsError) -> String {
    let mut cur: Option<&(dyn Error + 'static)> = Some(c);
    while let Some(e) = cur {
        if let Some(m) = e.downcast_ref::<ErrorMetadata>() {
            // An AWS answer inside the provider (STS AssumeRole, SSO): its code and words.
            return one_line(&match (m.code(), m.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                (None, Some(msg)) => msg.to_string(),
                (None, None) => e.to_string(),
            });
        }
        cur = e.source();
    }
    let root = innermost(c);
    let top = c.to_string();
    if root.is_empty() || top.contains(&root) {
        one_line(&top)
    } else {
        one_line(&format!("{top}: {root}"))
    }
}

/// The Display text of the innermost error in the chain.
fn innermost(err: &(dyn Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// One line of at most 300 characters (messages can run to pages).
pub fn one_line(s: &str) -> String {
    let line = s
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line = line.trim_end_matches('.');
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// The first line of an error chain, at most 300 characters.
pub fn first_line(s: &str) -> String {
    one_line(s.lines().next().unwrap_or(""))
}

/// Masks what could be a secret in text quoted from the SDK or a server: values after
/// `secret`, `token`, `signature` or `password`, `Signature=`/`X-Amz-Security-Token=` query
/// values, long base64 runs (secret keys, session tokens) and the middle of access key ids.
pub fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let run_len = rest
            .bytes()
            .take_while(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-')
            })
            .count();
        if run_len == 0 {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..run_len];
        rest = &rest[run_len..];
        out.push_str(&mask_word(word));
        // `secret: VALUE`, `token = VALUE`, `password "VALUE"`: mask the next value.
        let lower = word.to_ascii_lowercase();
        if ["secret", "token", "signature", "password", "credential"]
            .iter()
            .any(|k| lower.ends_with(k) || lower.ends_with(&format!("{k}=")))
        {
            let sep = rest
                .bytes()
                .take_while(|b| matches!(b, b' ' | b':' | b'=' | b'"' | b'\''))
                .count();
            let value = rest[sep..]
                .bytes()
                .take_while(|b| {
                    !matches!(b, b' ' | b'"' | b'\'' | b',' | b'&' | b')' | b'}' | b'\n')
                })
                .count();
            if value > 0 {
                out.push_str(&rest[..sep]);
                out.push_str("***");
                rest = &rest[sep + value..];
            }
        }
    }
    out
}

/// One token: a key id keeps its prefix and last four, a long base64 run is hidden, a
/// `key=value` pair whose key names a secret loses its value.
fn mask_word(word: &str) -> String {
    if let Some((k, v)) = word.split_once('=') {
        let kl = k.to_ascii_lowercase();
        if !v.is_empty()
            && [
                "signature",
                "security-token",
                "securitytoken",
                "secret",
                "token",
                "password",
            ]
            .iter()
            .any(|s| kl.ends_with(s))
        {
            return format!("{k}=***");
        }
    }
    let is_key_id = word.len() == 20
        && (word.starts_with("AKIA") || word.starts_with("ASIA"))
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if is_key_id {
        return crate::redact::redact_key_id(word);
    }
    let b64 = word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if b64
        && word.len() >= 32
        && word.bytes().any(|b| b.is_ascii_digit())
        && word.bytes().any(|b| b.is_ascii_alphabetic())
    {
        return "***".to_string();
    }
    // `Credential=AKIA.../20261130/us-east-1/s3`: the parts of a pair or a path, one by one.
    if let Some((k, v)) = word
        .split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
    {
        return format!("{k}={}", mask_word(v));
    }
    if word.contains('/') {
        return word.split('/').map(mask_word).collect::<Vec<_>>().join("/");
    }
    word.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: Option<&str>) -> Endpoint {
        Endpoint {
            service: "cloudtrail",
            region: "us-east-1".into(),
            url: url.map(str::to_string),
        }
    }

    #[test]
    fn endpoints_know_their_host_and_whether_it_is_an_address() {
        assert_eq!(ep(None).host(), "cloudtrail.us-east-1.amazonaws.com");
        assert!(!ep(None).is_literal_ip());
        assert_eq!(ep(Some("http://127.0.0.1:9/x")).host(), "127.0.0.1:9");
        assert!(ep(Some("http://127.0.0.1:9/x")).is_literal_ip());
        assert!(ep(Some("http://[::1]:9")).is_literal_ip());
        assert!(!ep(Some("https://minio.internal:9000")).is_literal_ip());
    }

    #[test]
    fn secrets_are_masked_and_ordinary_words_kept() {
        let t = "Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/s3, Signature=abcdef0123 \
                 secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY token: FwoGZXIvYXdzEXAMPLE \
                 x-amz-security-token=IQoJb3JpZ2luX2VjEXAMPLE connection refused (os error 111)";
        let m = mask_secrets(t);
        assert!(!m.contains("wJalrXUtnFEMI"), "{m}");
        assert!(!m.contains("FwoGZXIvYXdzEXAMPLE"), "{m}");
        assert!(!m.contains("IQoJb3JpZ2luX2VjEXAMPLE"), "{m}");
        assert!(!m.contains("abcdef0123"), "{m}");
        assert!(!m.contains("AKIAIOSFODNN7EXAMPLE"), "{m}");
        assert!(m.contains("AKIA…MPLE"), "{m}");
        assert!(m.contains("connection refused (os error 111)"), "{m}");
    }

    #[test]
    fn an_instance_metadata_service_that_refuses_means_no_credentials_not_a_broken_provider() {
        let imds = CredentialsError::provider_error(
            "request forbidden: IMDS is disabled or the caller has insufficient permissions",
        );
        assert!(is_imds_refusal(&imds));
        let sts = CredentialsError::provider_error("AccessDenied: not authorized");
        assert!(!is_imds_refusal(&sts));
    }

    #[test]
    fn one_line_joins_and_caps() {
        assert_eq!(one_line("a\n  b.\n"), "a b");
        assert_eq!(one_line(&"x".repeat(400)).chars().count(), 301);
    }
}
