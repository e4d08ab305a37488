//! `keytrail doctor`: checks AWS access before a real run. Who am I (STS
//! GetCallerIdentity), which region, and does each permission the given sources need work
//! (ListBucket and GetObject on a bucket, LookupEvents in each region); every failure comes
//! with its fix.

use std::io::Write;

use anyhow::{Context, Result};
use aws_sdk_s3::config::ProvideCredentials;

use super::{Outcome, runtime, screen};
use crate::aws::call::{Call, Tally, send};
use crate::aws::errors::CallSite;
use crate::aws::{AwsContext, load_context};
use crate::cli::DoctorArgs;
use crate::output::layout::{Cell, Grid};
use crate::output::term::{Screen, Tone};
use crate::redact::redact_key_id;
use crate::sources::Spec;
use crate::sources::lookup::Regions;
use crate::sources::s3::layout::S3Url;

/// One line of the report.
struct Check {
    what: String,
    target: String,
    result: Result<String, String>,
}

/// Runs the checks, prints the report (stdout or `--output FILE`); a failed check means
/// exit code 1.
pub fn run(a: &DoctorArgs, _err: &mut dyn Write) -> Result<Outcome> {
    let specs = Spec::parse_all(&a.sources).map_err(anyhow::Error::msg)?;
    let checks = runtime()?.block_on(async {
        let ctx = load_context(&a.aws).await;
        let mut checks = vec![region_check(&ctx), credentials_check(&ctx).await];
        if checks[1].result.is_err() {
            return checks; // every other check would fail the same way
        }
        checks.push(identity_check(&ctx).await);
        for s in &specs {
            match s {
                Spec::S3(url) => checks.extend(bucket_checks(&ctx, url).await),
                Spec::Lookup(r) => checks.extend(lookup_checks(&ctx, r).await),
                Spec::Local(p) => checks.push(Check {
                    what: "local input".into(),
                    target: p.clone(),
                    result: if p == "-" || std::path::Path::new(p).exists() {
                        Ok("exists (no AWS access needed)".into())
                    } else {
                        Err("does not exist: check the path".into())
                    },
                }),
            }
        }
        checks
    });
    let failed = checks.iter().filter(|c| c.result.is_err()).count();
    let mut out = crate::output::open_output(a.out.output.as_deref()).context("opening output")?;
    write_report(&mut *out, &checks, &screen(&a.out))?;
    writeln!(
        out,
        "{}",
        if failed == 0 {
            "All checks passed.".to_string()
        } else {
            format!("{failed} check(s) failed; each says how to fix it.")
        }
    )?;
    out.flush()?;
    Ok(Outcome {
        findings_hit: failed > 0,
        partial: false,
        ..Outcome::default()
    })
}

/// Prints the checks as a table.
fn write_report(out: &mut dyn Write, checks: &[Check], screen: &Screen) -> std::io::Result<()> {
    let mut t = Grid::new(["check", "target", "result", "detail"]);
    for c in checks {
        let (status, detail) = match &c.result {
            Ok(d) => (Cell::new("ok", Tone::Good), d.as_str()),
            Err(d) => (Cell::new("FAILED", Tone::Bad), d.as_str()),
        };
        t.titled_row(
            Cell::new(format!("{}: {}", c.what, c.target), Tone::Bold),
            [
                Cell::from(c.what.as_str()),
                Cell::from(c.target.as_str()),
                status,
                Cell::from(detail),
            ],
        );
    }
    t.write(out, screen)
}

/// The region calls go to, and where it came from.
fn region_check(ctx: &AwsContext) -> Check {
    Check {
        what: "region".into(),
        target: ctx.region().to_string(),
        result: Ok(if ctx.region_defaulted {
            "no region configured (--region, AWS_REGION or the profile); using us-east-1, S3 follows each bucket's region".into()
        } else {
            "configured".into()
        }),
    }
}

/// Resolves credentials: which key (redacted), temporary or not, expiry.
async fn credentials_check(ctx: &AwsContext) -> Check {
    let target = credential_origin();
    let result = match ctx.sdk.credentials_provider() {
        None => Err("no credentials provider: see the README's authentication section".into()),
        Some(p) => match p.provide_credentials().await {
            Ok(c) => Ok(format!(
                "access key {}{}{}",
                redact_key_id(c.access_key_id()),
                if c.session_token().is_some() {
                    ", temporary (session token present)"
                } else {
                    ", long-term"
                },
                c.expiry()
                    .map(|e| format!(
                        ", expires {}",
                        chrono::DateTime::<chrono::Utc>::from(e).to_rfc3339()
                    ))
                    .unwrap_or_default()
            )),
            Err(e) => Err(format!(
                "no usable credentials: {}; use --profile NAME, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with a role (for SSO profiles: aws sso login --profile NAME)",
                match &e {
                    aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_) =>
                        "no provider in the chain (environment, profile, web identity, container, instance) had any".to_string(),
                    other => crate::aws::errors::credentials_cause(other),
                }
            )),
        },
    };
    Check {
        what: "credentials".into(),
        target,
        result,
    }
}

/// Where the credentials come from, read from the environment the way the chain does.
fn credential_origin() -> String {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID") {
        "environment (AWS_ACCESS_KEY_ID)".into()
    } else if let Ok(p) = std::env::var("AWS_PROFILE") {
        format!("profile {p}")
    } else if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".into()
    } else if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    {
        "container (task) role".into()
    } else {
        "default chain (profile default, SSO, instance role)".into()
    }
}

/// STS GetCallerIdentity: the account and principal the calls run as.
async fn identity_check(ctx: &AwsContext) -> Check {
    let call = Call {
        site: CallSite {
            permission: "sts:GetCallerIdentity",
            resource: "STS".into(),
        },
        endpoint: ctx.sts_endpoint(),
        label: "identity".into(),
    };
    let sts = ctx.sts();
    let result = match send(ctx, &call, &mut Tally::default(), || {
        sts.get_caller_identity().send()
    })
    .await
    {
        Ok(id) => Ok(format!(
            "account {}, {}",
            id.account().unwrap_or("?"),
            id.arn().unwrap_or("?")
        )),
        Err(e) => Err(e.message(ctx.verbose)),
    };
    Check {
        what: "identity".into(),
        target: "sts:GetCallerIdentity".into(),
        result,
    }
}

/// ListBucket on the prefix and GetObject (first byte) on one log object under it.
async fn bucket_checks(ctx: &AwsContext, url: &S3Url) -> Vec<Check> {
    let target = format!("s3://{}/{}", url.bucket, url.prefix);
    let bucket = match crate::sources::s3::bucket_client(ctx, &url.bucket).await {
        Ok(b) => b,
        Err(e) => {
            return vec![Check {
                what: "s3:ListBucket".into(),
                target,
                result: Err(e.message(ctx.verbose)),
            }];
        }
    };
    let client = &bucket.client;
    let region = client.config().region().map(|r| r.to_string());
    let call = |p: &'static str, r: String| Call {
        site: CallSite {
            permission: p,
            resource: r,
        },
        endpoint: bucket.endpoint.clone(),
        label: target.clone(),
    };
    let list = client
        .list_objects_v2()
        .bucket(&url.bucket)
        .prefix(&url.prefix)
        .max_keys(1000);
    let list_call = call("s3:ListBucket", format!("arn:aws:s3:::{}", url.bucket));
    let page = match send(ctx, &list_call, &mut Tally::default(), || {
        list.clone().send()
    })
    .await
    {
        Ok(p) => p,
        Err(e) => {
            return vec![Check {
                what: "s3:ListBucket".into(),
                target,
                result: Err(e.message(ctx.verbose)),
            }];
        }
    };
    let sample = page.contents().iter().filter_map(|o| o.key()).find(|k| {
        let file = k.rsplit('/').next().unwrap_or(k);
        crate::sources::local::is_log_name(file) && !crate::sources::local::is_digest_name(k)
    });
    let mut checks = vec![Check {
        what: "s3:ListBucket".into(),
        target: target.clone(),
        result: Ok(format!(
            "bucket region {}; {} object(s) in the first page",
            region.as_deref().unwrap_or(ctx.region()),
            page.key_count().unwrap_or(0)
        )),
    }];
    let get = match sample {
        None => Err("no log object in the first 1000 keys under the prefix to test GetObject with: check the prefix (it should contain AWSLogs/)".to_string()),
        Some(key) => {
            let get = client.get_object().bucket(&url.bucket).key(key).range("bytes=0-0");
            let get_call = call("s3:GetObject", format!("arn:aws:s3:::{}/{key}", url.bucket));
            match send(ctx, &get_call, &mut Tally::default(), || get.clone().send()).await {
                Ok(_) => Ok(format!("read s3://{}/{key}", url.bucket)),
                Err(e) => Err(e.message(ctx.verbose)),
            }
        }
    };
    checks.push(Check {
        what: "s3:GetObject".into(),
        target,
        result: get,
    });
    checks
}

/// One LookupEvents call (one event) per region.
async fn lookup_checks(ctx: &AwsContext, regions: &Regions) -> Vec<Check> {
    let regions = match regions {
        Regions::List(l) => l.clone(),
        Regions::All => vec![crate::sources::lookup::IAM_REGION.to_string()],
    };
    let mut out = Vec::new();
    for r in regions {
        let call = Call {
            site: CallSite {
                permission: "cloudtrail:LookupEvents",
                resource: format!("CloudTrail in {r}"),
            },
            endpoint: ctx.cloudtrail_endpoint(&r),
            label: format!("lookup:{r}"),
        };
        let req = ctx.cloudtrail(&r).lookup_events().max_results(1);
        let result = match send(ctx, &call, &mut Tally::default(), || req.clone().send()).await {
            Ok(p) => Ok(format!("{} event(s) returned", p.events().len())),
            Err(e) => Err(e.message(ctx.verbose)),
        };
        out.push(Check {
            what: "cloudtrail:LookupEvents".into(),
            target: format!("lookup:{r}"),
            result,
        });
    }
    out
}
