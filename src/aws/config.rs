//! Loads the AWS configuration the way the AWS CLI and SDKs do (environment keys, profiles
//! with SSO or credential_process, web identity, container and instance roles), then applies
//! keytrail's flags: `--profile`, `--region`, `--endpoint-url`, and `--role-arn` role assumption.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{Region, SharedCredentialsProvider};

use super::CallCounter;
use crate::cli::AwsArgs;

/// Region used when nothing configures one (S3 then follows the bucket's own region).
pub const FALLBACK_REGION: &str = "us-east-1";
/// Attempts the SDK makes for one S3 call (throttling, 5xx and connection errors are retried
/// with exponential backoff).
pub const S3_MAX_ATTEMPTS: u32 = 5;

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
}

impl AwsContext {
    /// The region API calls go to unless a source overrides it.
    pub fn region(&self) -> &str {
        self.sdk
            .region()
            .map(|r| r.as_ref())
            .unwrap_or(FALLBACK_REGION)
    }

    /// An S3 client, optionally for another region (buckets live in one region).
    pub fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.force_path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(S3_MAX_ATTEMPTS));
        if let Some(r) = region {
            b = b.region(Region::new(r.to_string()));
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    /// A CloudTrail client for one region. Retries are keytrail's own (see `lookup`), so
    /// that every attempt goes through the rate limiter.
    pub fn cloudtrail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let conf = aws_sdk_cloudtrail::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_cloudtrail::Client::from_conf(conf)
    }

    /// An STS client (caller identity).
    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk)
    }
}

/// Resolves credentials and region from the environment, the profile and the flags.
pub async fn load_context(a: &AwsArgs) -> AwsContext {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
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
    AwsContext {
        sdk,
        region_defaulted,
        force_path_style: a.force_path_style,
        accounts: a.accounts.clone(),
        regions: a.regions.clone(),
        concurrency: usize::from(a.concurrency.max(1)),
        calls: CallCounter::default(),
    }
}

/// `keytrail-<unix seconds>`: shows up in the audited account's CloudTrail as the session.
fn default_session_name() -> String {
    format!("keytrail-{}", chrono::Utc::now().timestamp())
}
