//! Loads the AWS configuration the way the AWS CLI and SDKs do (environment keys, profiles
//! with SSO or credential_process, web identity, container and instance roles), then applies
//! keytrail's flags: `--profile`, `--region`, `--endpoint-url`, and `--role-arn` role assumption.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{Region, SharedCredentialsProvider};
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::service_config::ServiceConfigKey;

use super::CallCounter;
use super::credentials::SingleFlight;
use super::errors::{AwsCallError, Endpoint};
use crate::cli::AwsArgs;

/// Region used when nothing configures one (S3 then follows the bucket's own region).
pub const FALLBACK_REGION: &str = "us-east-1";
/// Time to open a connection before the attempt counts as failed (a timeout is retried).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest one attempt may take until the answer starts (bodies then stream on).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where status lines go (what keytrail is waiting for, and why): stderr by default; a
/// command drawing a progress bar prints them around it.
#[derive(Clone)]
pub struct Status {
    show: Arc<dyn Fn(&str) + Send + Sync>,
    /// When the last "still waiting for an answer" line was shown (one for all calls).
    last_waiting: Arc<Mutex<Option<Instant>>>,
}

/// At most one "still waiting" line this often, however many calls wait together.
pub const WAITING_LINE_EVERY: Duration = Duration::from_secs(5);

impl Status {
    /// Status lines handed to `f`.
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Status {
            show: Arc::new(f),
            last_waiting: Arc::default(),
        }
    }

    /// Shows one status line.
    pub fn show(&self, line: &str) {
        (self.show)(line)
    }

    /// Shows a "still waiting" line unless one was shown in the last [`WAITING_LINE_EVERY`]
    /// (calls waiting together would otherwise repeat it).
    pub fn show_waiting(&self, line: &str) {
        {
            let mut last = self.last_waiting.lock().expect("status lock");
            if last.is_some_and(|t| t.elapsed() < WAITING_LINE_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.show(line);
    }
}

impl Default for Status {
    /// `keytrail: LINE` on stderr.
    fn default() -> Self {
        Status::new(|line| {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "keytrail: {line}");
        })
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Status")
    }
}

/// Endpoints found out of reach during this run, and credentials that could not be had:
/// later calls there fail at once with the same error instead of waiting out their retries.
#[derive(Debug, Default, Clone)]
pub struct Down(Arc<Mutex<HashMap<String, AwsCallError>>>);

/// The key under which a credentials failure is remembered.
const CREDENTIALS: &str = "credentials";

impl Down {
    /// The earlier failure that makes a call to `endpoint` pointless, if any.
    pub fn get(&self, endpoint: &Endpoint) -> Option<AwsCallError> {
        let map = self.0.lock().expect("down-endpoint lock");
        map.get(CREDENTIALS)
            .or_else(|| map.get(&endpoint.key()))
            .cloned()
    }

    /// Remembers a failure when it will repeat for every call (endpoint or credentials).
    pub fn note(&self, e: &AwsCallError) {
        let key = if e.credentials_down() {
            CREDENTIALS.to_string()
        } else if e.endpoint_down() {
            e.endpoint.key()
        } else {
            return;
        };
        self.0
            .lock()
            .expect("down-endpoint lock")
            .entry(key)
            .or_insert_with(|| e.clone());
    }
}

/// Everything a cloud source needs: the resolved SDK configuration and the flags.
#[derive(Debug, Clone)]
pub struct AwsContext {
    pub sdk: SdkConfig,
    /// True when no region came from flags, environment or profile.
    pub region_defaulted: bool,
    pub force_path_style: bool,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub concurrency: usize,
    pub calls: CallCounter,
    /// `-v`: messages carry the SDK's own error text.
    pub verbose: bool,
    /// Where status lines go while keytrail waits (retries, backoff).
    pub status: Status,
    /// Endpoints and credentials found out of reach during this run.
    pub down: Down,
}

impl AwsContext {
    /// The region API calls go to unless a source overrides it.
    pub fn region(&self) -> &str {
        self.sdk
            .region()
            .map(|r| r.as_ref())
            .unwrap_or(FALLBACK_REGION)
    }

    /// An S3 client, optionally for another region (buckets live in one region). Retries
    /// are keytrail's own (see `aws::call`), so permanent failures end at once and every
    /// attempt is counted.
    pub fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.force_path_style)
            .retry_config(RetryConfig::disabled());
        if let Some(r) = region {
            b = b.region(Region::new(r.to_string()));
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    /// A CloudTrail client for one region. Retries are keytrail's own (see `aws::call`), so
    /// that every attempt goes through the rate limiter.
    pub fn cloudtrail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let conf = aws_sdk_cloudtrail::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_cloudtrail::Client::from_conf(conf)
    }

    /// An STS client (caller identity), with keytrail's retries.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::config::Builder::from(&self.sdk)
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    /// Where S3 calls for a bucket in `region` go.
    pub fn s3_endpoint(&self, region: &str) -> Endpoint {
        self.endpoint("s3", "S3", region)
    }

    /// Where CloudTrail calls for `region` go.
    pub fn cloudtrail_endpoint(&self, region: &str) -> Endpoint {
        self.endpoint("cloudtrail", "CloudTrail", region)
    }

    /// Where STS calls go.
    pub fn sts_endpoint(&self) -> Endpoint {
        self.endpoint("sts", "STS", self.region())
    }

    /// The endpoint the SDK will use for a service: the same precedence as the generated
    /// clients (`--endpoint-url`, then `AWS_ENDPOINT_URL_<SERVICE>` or the profile's service
    /// section, then `AWS_ENDPOINT_URL` or the profile's `endpoint_url`).
    fn endpoint(&self, service: &'static str, service_id: &str, region: &str) -> Endpoint {
        let global = self.sdk.endpoint_url().map(str::to_string);
        let url = if self.sdk.get_origin("endpoint_url").is_client_config() {
            global
        } else {
            self.sdk
                .service_config()
                .and_then(|c| {
                    c.load_config(
                        ServiceConfigKey::builder()
                            .service_id(service_id)
                            .env("AWS_ENDPOINT_URL")
                            .profile("endpoint_url")
                            .build()
                            .expect("all fields set"),
                    )
                })
                .or(global)
        };
        Endpoint {
            service,
            region: region.to_string(),
            url,
        }
    }
}

/// Resolves credentials and region from the environment, the profile and the flags.
pub async fn load_context(a: &AwsArgs) -> AwsContext {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build(),
    );
    if let Some(p) = &a.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &a.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &a.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    let mut sdk = loader.load().await;
    let region_defaulted = sdk.region().is_none();
    if region_defaulted {
        sdk = sdk
            .into_builder()
            .region(Region::from_static(FALLBACK_REGION))
            .build();
    }
    if let Some(role) = &a.role_arn {
        let mut b = AssumeRoleProvider::builder(role)
            .session_name(
                a.role_session_name
                    .clone()
                    .unwrap_or_else(default_session_name),
            )
            .configure(&sdk);
        if let Some(x) = &a.external_id {
            b = b.external_id(x);
        }
        let provider = b.build().await;
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
    }
    if let Some(p) = sdk.credentials_provider() {
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(SingleFlight::new(p)))
            .build();
    }
    AwsContext {
        sdk,
        region_defaulted,
        force_path_style: a.force_path_style,
        accounts: a.accounts.clone(),
        regions: a.regions.clone(),
        concurrency: usize::from(a.concurrency.max(1)),
        calls: CallCounter::default(),
        verbose: a.verbose,
        status: Status::default(),
        down: Down::default(),
    }
}

/// `keytrail-<unix seconds>`: shows up in the audited account's CloudTrail as the session.
fn default_session_name() -> String {
    format!("keytrail-{}", chrono::Utc::now().timestamp())
}
