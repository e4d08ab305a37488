//! AWS errors turned into messages that say what to do: which permission on which resource,
//! refresh expired credentials, wrong region, missing bucket, no credentials at all.

use std::fmt;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// What a failed call was doing, so the message can name the permission and resource.
#[derive(Debug, Clone)]
pub struct CallSite {
    /// The IAM action the call needs, e.g. `s3:ListBucket`.
    pub permission: &'static str,
    /// The resource, e.g. `arn:aws:s3:::bucket` or `CloudTrail in us-east-1`.
    pub resource: String,
}

/// The kinds of failure a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AccessDenied,
    ExpiredCredentials,
    InvalidCredentials,
    NoCredentials,
    NoSuchBucket,
    WrongRegion,
    Throttled,
    Unreachable,
    Other,
}

/// A failed AWS call, with a message that says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub struct AwsCallError {
    pub kind: ErrorKind,
    pub site: CallSite,
    /// The AWS error code, when there was one.
    pub code: Option<String>,
    /// The region the bucket really is in, when AWS said so.
    pub bucket_region: Option<String>,
    /// AWS's own words (message or error chain).
    pub detail: String,
    /// HTTP status, when a response came back.
    pub status: Option<u16>,
}

impl fmt::Display for AwsCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.site;
        match self.kind {
            ErrorKind::AccessDenied => write!(
                f,
                "access denied: the caller needs {} on {}; grant it to the identity keytrail runs as (see the least-privilege policy in the README)",
                s.permission, s.resource
            )?,
            ErrorKind::ExpiredCredentials => write!(
                f,
                "the AWS credentials have expired: refresh them (`aws sso login --profile NAME` for SSO, new session keys otherwise) and run again"
            )?,
            ErrorKind::InvalidCredentials => write!(
                f,
                "AWS rejected the credentials for {} on {}: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or the profile; in an opt-in region, check it is enabled for the account",
                s.permission, s.resource
            )?,
            ErrorKind::NoCredentials => write!(
                f,
                "no AWS credentials found: use --profile NAME (or AWS_PROFILE), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance, task or web-identity role is available; `keytrail doctor` checks the set-up"
            )?,
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
                "AWS kept throttling {} on {} after retries: lower --concurrency or run again later",
                s.permission, s.resource
            )?,
            ErrorKind::Unreachable => write!(
                f,
                "cannot reach the AWS endpoint for {}: check the network, proxy settings or --endpoint-url",
                s.resource
            )?,
            ErrorKind::Other => write!(f, "{} on {} failed", s.permission, s.resource)?,
        }
        match (&self.code, self.kind) {
            (_, ErrorKind::NoCredentials) => Ok(()), // the chain's own words add nothing
            (Some(c), _) => write!(f, " [{c}: {}]", self.detail),
            (None, _) => write!(f, " [{}]", self.detail),
        }
    }
}

impl AwsCallError {
    /// True when trying again later can succeed (throttling, 5xx, connection trouble).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Unreachable)
            || self.status.is_some_and(|s| s >= 500)
    }
}

/// Classifies an SDK error for the given call site.
pub fn classify<E>(
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    site: CallSite,
) -> AwsCallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().map(str::to_string);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let bucket_region = err
        .raw_response()
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .map(str::to_string);
    let chain = DisplayErrorContext(err).to_string();
    let detail = match (err.message(), status) {
        (Some(m), _) => m.to_string(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => first_line(&chain),
    };
    let mut kind = kind_of(err, code.as_deref(), status, &chain);
    if code.as_deref() == Some("NotFound") && site.permission == "s3:ListBucket" {
        kind = ErrorKind::NoSuchBucket; // HeadBucket answers a bare 404
    }
    AwsCallError {
        kind,
        site,
        code,
        bucket_region,
        detail,
        status,
    }
}

/// The first line of an error chain, at most 300 characters (chains can run to pages).
pub fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim_end_matches('.');
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// Decides the kind from the error code, the HTTP status and the error chain.
fn kind_of<E, R>(
    err: &SdkError<E, R>,
    code: Option<&str>,
    status: Option<u16>,
    chain: &str,
) -> ErrorKind {
    match code {
        Some(
            "AccessDenied"
            | "AccessDeniedException"
            | "AllAccessDisabled"
            | "UnauthorizedOperation",
        ) => return ErrorKind::AccessDenied,
        Some(
            "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" | "RequestExpired",
        ) => {
            return ErrorKind::ExpiredCredentials;
        }
        Some(
            "InvalidAccessKeyId"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "InvalidToken"
            | "InvalidSignatureException"
            | "MissingAuthenticationToken",
        ) => return ErrorKind::InvalidCredentials,
        Some("NoSuchBucket") => return ErrorKind::NoSuchBucket,
        Some(
            "PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException",
        ) => {
            return ErrorKind::WrongRegion;
        }
        Some(
            "ThrottlingException"
            | "Throttling"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "TooManyRequestsException",
        ) => {
            return ErrorKind::Throttled;
        }
        _ => {}
    }
    match status {
        Some(403) => return ErrorKind::AccessDenied,
        Some(301) => return ErrorKind::WrongRegion,
        Some(404) if code.is_none() => return ErrorKind::NoSuchBucket,
        Some(429 | 503) => return ErrorKind::Throttled,
        _ => {}
    }
    let lower = chain.to_ascii_lowercase();
    if lower.contains("no credentials")
        || lower.contains("credentials provider")
        || lower.contains("failed to load credentials")
    {
        return ErrorKind::NoCredentials;
    }
    match err {
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => ErrorKind::Unreachable,
        SdkError::TimeoutError(_) => ErrorKind::Unreachable,
        _ => ErrorKind::Other,
    }
}
