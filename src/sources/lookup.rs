//! LookupEvents source: the CloudTrail API's last 90 days of management events, per region.
//!
//! Lookup attributes keep the fetch to what the rules need: `EventSource=bedrock.amazonaws.com`
//! in every region, and the key and IAM-user events by name in us-east-1, where IAM's global
//! events land. Calls stay under the API's 2 per second per account and region (a token
//! bucket per region) and back off on ThrottlingException. Each page's `CloudTrailEvent`
//! strings go through the same pipeline as log files. Region names are checked against the
//! known regions before any call; calls are retried by `aws::call` (transient failures only).

use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_smithy_types::DateTime as AwsTime;
use futures::StreamExt;

use crate::aws::AwsContext;
use crate::aws::call::{Call, Tally, send};
use crate::aws::errors::{AwsCallError, CallSite, ErrorKind};
use crate::aws::ratelimit::{LOOKUP_CALLS_PER_SECOND, RateLimiter};
pub use crate::aws::regions::ALL_REGIONS;
use crate::aws::regions::{OPT_IN_REGIONS, check as check_region};
use crate::pipeline::{IngestOptions, InputOutcome, RecordFeed, SourceCounts};

/// LookupEvents returns at most 50 events a call.
pub const MAX_RESULTS: i32 = 50;
/// LookupEvents keeps 90 days of events.
pub const RETENTION_DAYS: i64 = 90;
/// Regions read at once (each has its own rate limit).
const REGION_CONCURRENCY: usize = 8;
/// Where IAM (global) events are delivered.
pub const IAM_REGION: &str = "us-east-1";

/// Global-service event names the rules use (IAM, Organizations SCPs, AWS Marketplace
/// agreements), fetched by name in us-east-1 where those events land.
pub const IAM_EVENT_NAMES: &[&str] = &[
    "CreateServiceSpecificCredential",
    "UpdateServiceSpecificCredential",
    "ResetServiceSpecificCredential",
    "DeleteServiceSpecificCredential",
    "CreateUser",
    "AttachUserPolicy",
    "PutUserPolicy",
    "CreateAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "CreatePolicy",
    "CreatePolicyVersion",
    "UpdatePolicy",
    "PutRolePolicy",
    "PutGroupPolicy",
    "AttachRolePolicy",
    "AttachGroupPolicy",
    "SearchAgreements",
    "AcceptAgreementRequest",
];

/// Which events to ask LookupEvents for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LookupPlan {
    /// What the rules need (the default).
    #[default]
    Relevant,
    /// Every management event (`--all-events`).
    Everything,
    /// What the rules need plus the events matching one lookup attribute, e.g. `Username`
    /// or `AccessKeyId` (investigations: the subject's actions on every service).
    RelevantPlus(String, String),
}

/// A parsed `lookup:REGIONS` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Regions {
    All,
    List(Vec<String>),
}

impl Regions {
    /// Parses the part after `lookup:`: `all` or comma-separated regions.
    pub fn parse(spec: &str) -> Result<Regions, String> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("all") {
            return Ok(Regions::All);
        }
        let list: Vec<String> = spec
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if list.is_empty() {
            return Err(
                "lookup: needs regions, e.g. lookup:us-east-1,eu-west-1 or lookup:all".into(),
            );
        }
        let mut checked = Vec::with_capacity(list.len());
        for r in &list {
            checked.push(check_region(r).map_err(|e| format!("lookup:{spec}: {e}"))?);
        }
        Ok(Regions::List(checked))
    }

    /// The regions to read; `all` is the built-in list narrowed by `--regions`.
    fn resolve(&self, only: &[String]) -> Vec<String> {
        match self {
            Regions::List(l) => l.clone(),
            Regions::All => ALL_REGIONS
                .iter()
                .filter(|r| only.is_empty() || only.iter().any(|o| o == *r))
                .map(|r| r.to_string())
                .collect(),
        }
    }
}

/// The (attribute, value) queries to run in one region.
pub fn queries(plan: &LookupPlan, region: &str) -> Vec<Query> {
    match plan {
        LookupPlan::Everything => vec![None],
        LookupPlan::RelevantPlus(k, v) => {
            let mut q = queries(&LookupPlan::Relevant, region);
            q.push(Some((LookupAttributeKey::from(k.as_str()), v.clone())));
            q
        }
        LookupPlan::Relevant => {
            let mut q = vec![Some((
                LookupAttributeKey::EventSource,
                "bedrock.amazonaws.com".to_string(),
            ))];
            if region == IAM_REGION {
                q.extend(
                    IAM_EVENT_NAMES
                        .iter()
                        .map(|n| Some((LookupAttributeKey::EventName, n.to_string()))),
                );
            }
            q
        }
    }
}

/// Where each query starts when resuming: the input name (`lookup:REGION/Key=value`) to a
/// start time in micros; `None` falls back to `--since`.
pub type Resume<'a> = &'a (dyn Fn(&str) -> Option<i64> + Sync);

/// Reads the regions' events, calling `sink` with one outcome per (region, query).
pub async fn read(
    ctx: &AwsContext,
    regions: &Regions,
    plan: &LookupPlan,
    opts: &IngestOptions,
    resume: Option<Resume<'_>>,
    sink: &mut (dyn FnMut(InputOutcome) + Send),
) -> SourceCounts {
    let mut counts = SourceCounts::default();
    let now = chrono::Utc::now().timestamp_micros();
    let oldest = now - RETENTION_DAYS * 86_400_000_000;
    let mut start = opts.since;
    if let Some(s) = opts.since
        && s < oldest
    {
        counts.messages.push(format!(
            "lookup: --since is {} days back, but LookupEvents keeps only the last {RETENTION_DAYS} days: events before {} are not available this way; read the trail's S3 bucket for them",
            (now - s) / 86_400_000_000,
            crate::timefmt::format_micros(oldest)
        ));
        start = Some(oldest);
    }
    let limiter = RateLimiter::new(LOOKUP_CALLS_PER_SECOND);
    let window = (start, opts.until);
    let all = matches!(regions, Regions::All);
    let mut mine = regions.resolve(&ctx.regions);
    if let Some(shard) = opts.shard {
        let before = mine.len();
        mine.retain(|r| shard.owns(&format!("lookup:{r}")));
        counts.other_shards += (before - mine.len()) as u64;
    }
    let first: Vec<(String, Vec<Query>)> =
        mine.iter().map(|r| (r.clone(), queries(plan, r))).collect();
    let phantoms = run_queries(
        ctx,
        first,
        window,
        opts,
        resume,
        &limiter,
        all,
        "",
        |o| {
            let users = o.console_key_users();
            sink(o);
            users
        },
        &mut counts,
    )
    .await;
    // LookupEvents cannot select a user-name prefix: the console-key users the first pass
    // named (`BedrockAPIKey-*`) are asked for by name, so what they did outside Bedrock
    // (the phantom-user rules) is read as it is from the trail's files.
    if plan != &LookupPlan::Everything && !phantoms.is_empty() {
        let follow: Vec<(String, Vec<Query>)> = mine
            .iter()
            .map(|r| {
                let q = phantoms
                    .iter()
                    .map(|u| Some((LookupAttributeKey::Username, u.clone())))
                    .collect();
                (r.clone(), q)
            })
            .collect();
        let label = "BedrockAPIKey-* users";
        run_queries(
            ctx,
            follow,
            window,
            opts,
            resume,
            &limiter,
            all,
            label,
            |o| {
                sink(o);
                std::collections::BTreeSet::new()
            },
            &mut counts,
        )
        .await;
    }
    counts.messages.sort();
    counts
}

/// One LookupEvents query: an (attribute, value) pair, or every management event.
pub type Query = Option<(LookupAttributeKey, String)>;

/// Runs each region's queries (regions at once, up to [`REGION_CONCURRENCY`]), handing every
/// outcome to `each`; returns the union of what `each` returned.
#[allow(clippy::too_many_arguments)]
async fn run_queries(
    ctx: &AwsContext,
    work: Vec<(String, Vec<Query>)>,
    window: (Option<i64>, Option<i64>),
    opts: &IngestOptions,
    resume: Option<Resume<'_>>,
    limiter: &RateLimiter,
    all: bool,
    label: &str,
    mut each: impl FnMut(InputOutcome) -> std::collections::BTreeSet<String>,
    counts: &mut SourceCounts,
) -> std::collections::BTreeSet<String> {
    let per_region = futures::stream::iter(work)
        .map(|(region, qs)| {
            let limiter = limiter.clone();
            async move { read_region(ctx, &region, qs, window, opts, resume, &limiter, all).await }
        })
        .buffer_unordered(REGION_CONCURRENCY);
    futures::pin_mut!(per_region);
    let mut found = std::collections::BTreeSet::new();
    while let Some((outcomes, report)) = per_region.next().await {
        for o in outcomes {
            found.extend(each(o));
        }
        counts.messages.push(if label.is_empty() {
            report
        } else {
            report.replacen(": ", &format!(" ({label}): "), 1)
        });
    }
    found
}

/// Runs every query of one region in turn; stops the region at its first lasting failure.
#[allow(clippy::too_many_arguments)]
async fn read_region(
    ctx: &AwsContext,
    region: &str,
    queries: Vec<Query>,
    window: (Option<i64>, Option<i64>),
    opts: &IngestOptions,
    resume: Option<Resume<'_>>,
    limiter: &RateLimiter,
    all: bool,
) -> (Vec<InputOutcome>, String) {
    let client = ctx.cloudtrail(region);
    let mut outcomes = Vec::new();
    let mut stats = RegionStats::default();
    for q in queries {
        let name = match &q {
            Some((k, v)) => format!("lookup:{region}/{}={v}", k.as_str()),
            None => format!("lookup:{region}"),
        };
        let mut feed = RecordFeed::new(&name, opts);
        let window = match resume.and_then(|f| f(&name)) {
            Some(start) => (Some(start), window.1),
            None => window,
        };
        let result = page_through(
            &client, region, &q, window, limiter, ctx, &mut feed, &mut stats,
        )
        .await;
        if let Err(e) = result {
            let opt_in = OPT_IN_REGIONS.contains(&region);
            if all && opt_in && e.kind == ErrorKind::InvalidCredentials {
                return (
                    Vec::new(),
                    format!(
                        "lookup:{region}: passed over: the region is not enabled for this account ({})",
                        e.code.as_deref().unwrap_or("rejected")
                    ),
                );
            }
            feed.fail(e.message(ctx.verbose));
            outcomes.push(feed.finish());
            return (outcomes, stats.report(region));
        }
        outcomes.push(feed.finish());
    }
    (outcomes, stats.report(region))
}

/// Calls and events of one region, for the report line.
#[derive(Debug, Default)]
struct RegionStats {
    calls: u64,
    throttled: u64,
    events: u64,
}

impl RegionStats {
    /// `lookup:REGION: N LookupEvents calls (T throttled), E events`.
    fn report(&self, region: &str) -> String {
        format!(
            "lookup:{region}: {} LookupEvents calls ({} throttled), {} events",
            self.calls, self.throttled, self.events
        )
    }
}

/// Pages through one query, feeding each event's `CloudTrailEvent` JSON.
#[allow(clippy::too_many_arguments)]
async fn page_through(
    client: &Client,
    region: &str,
    q: &Option<(LookupAttributeKey, String)>,
    (start, end): (Option<i64>, Option<i64>),
    limiter: &RateLimiter,
    ctx: &AwsContext,
    feed: &mut RecordFeed<'_>,
    stats: &mut RegionStats,
) -> Result<(), AwsCallError> {
    let mut token: Option<String> = None;
    loop {
        let mut req = client
            .lookup_events()
            .max_results(MAX_RESULTS)
            .set_start_time(start.map(aws_time))
            .set_end_time(end.map(aws_time))
            .set_next_token(token.take());
        if let Some((k, v)) = q {
            req = req.lookup_attributes(
                LookupAttribute::builder()
                    .attribute_key(k.clone())
                    .attribute_value(v)
                    .build()
                    .expect("key and value are set"),
            );
        }
        let page = call(req, region, limiter, ctx, stats).await?;
        for ev in page.events() {
            stats.events += 1;
            match ev.cloud_trail_event() {
                Some(json) => feed.record(json.as_bytes()),
                None => feed.unreadable(format!(
                    "event {} has no CloudTrailEvent",
                    ev.event_id().unwrap_or("?")
                )),
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(()),
        }
    }
}

/// One LookupEvents call through the rate limiter (every attempt takes a token), retried
/// with backoff when transient.
async fn call(
    req: aws_sdk_cloudtrail::operation::lookup_events::builders::LookupEventsFluentBuilder,
    region: &str,
    limiter: &RateLimiter,
    ctx: &AwsContext,
    stats: &mut RegionStats,
) -> Result<LookupEventsOutput, AwsCallError> {
    let call = Call {
        site: CallSite {
            permission: "cloudtrail:LookupEvents",
            resource: format!("CloudTrail in {region}"),
        },
        endpoint: ctx.cloudtrail_endpoint(region),
        label: format!("lookup:{region}"),
    };
    let mut tally = Tally::default();
    let result = send(ctx, &call, &mut tally, || {
        let req = req.clone();
        async move {
            limiter.acquire(region).await;
            req.send().await
        }
    })
    .await;
    stats.calls += tally.attempts;
    stats.throttled += tally.throttled;
    result
}

/// Micros since the epoch as the SDK's time type.
fn aws_time(micros: i64) -> AwsTime {
    AwsTime::from_secs_and_nanos(
        micros.div_euclid(1_000_000),
        (micros.rem_euclid(1_000_000) * 1000) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_specs_parse_regions_or_all() {
        assert_eq!(Regions::parse("all"), Ok(Regions::All));
        assert_eq!(
            Regions::parse("us-east-1, eu-west-1"),
            Ok(Regions::List(vec!["us-east-1".into(), "eu-west-1".into()]))
        );
        assert!(Regions::parse("").is_err());
        assert!(Regions::parse("us-east-1,Frankfurt").is_err());
    }

    #[test]
    fn all_regions_narrow_to_the_regions_flag() {
        assert_eq!(Regions::All.resolve(&[]).len(), ALL_REGIONS.len());
        assert_eq!(
            Regions::All.resolve(&["eu-west-1".into(), "us-east-1".into()]),
            vec!["us-east-1".to_string(), "eu-west-1".to_string()]
        );
    }

    #[test]
    fn relevant_plan_fetches_bedrock_everywhere_and_iam_names_in_us_east_1() {
        let west = queries(&LookupPlan::Relevant, "us-west-2");
        assert_eq!(
            west,
            vec![Some((
                LookupAttributeKey::EventSource,
                "bedrock.amazonaws.com".into()
            ))]
        );
        let east = queries(&LookupPlan::Relevant, "us-east-1");
        assert_eq!(east.len(), 1 + IAM_EVENT_NAMES.len());
        assert!(east.contains(&Some((
            LookupAttributeKey::EventName,
            "CreateServiceSpecificCredential".into()
        ))));
        assert_eq!(queries(&LookupPlan::Everything, "us-east-1"), vec![None]);
    }

    #[test]
    fn unknown_regions_are_refused_with_the_closest_names() {
        let e = Regions::parse("us-east-1,us-east-9").unwrap_err();
        assert!(
            e.starts_with("lookup:us-east-1,us-east-9: unknown region \"us-east-9\""),
            "{e}"
        );
        assert!(e.contains("did you mean us-east-1 or us-east-2"), "{e}");
    }
}
