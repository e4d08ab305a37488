//! S3 source: reads a trail's bucket. The CloudTrail layout (organization trails and custom
//! prefixes included) is used to list only the account, region and day folders the flags
//! ask for; objects are fetched concurrently (bounded), inflated and fed to the same
//! pipeline as local files. Memory holds the objects in flight, not the listing.
//!
//! An object of up to [`WHOLE_BODY_MAX`] bytes (CloudTrail's usually are) is downloaded
//! whole and then inflated and scanned on the compute pool, like a local file; a larger one
//! is inflated as it streams, on a blocking thread of its own.
//!
//! Every call goes through `aws::call` (retries of transient failures only, status lines
//! while waiting); a bucket whose endpoint or credentials fail is reported once, as one line.

pub mod layout;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::AggregatedBytes;
use bytes::Buf;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use crate::aws::AwsContext;
use crate::aws::call::{Call, Tally, send};
use crate::aws::errors::{AwsCallError, CallSite, Endpoint};
use crate::pipeline::{IngestOptions, InputOutcome, ScratchPool, SourceCounts};
use crate::sources::local::{decode_pooled, is_digest_name, is_log_name};
use crate::sources::shard::Shard;
use layout::{
    CLOUDTRAIL, Position, S3Url, day_prefixes, is_account_id, is_org_id, may_hold_window,
};

/// Attempts per object when the body stream breaks mid-way (request errors are retried by
/// `aws::call`).
const BODY_ATTEMPTS: u32 = 3;
/// Prefix listings run at once while discovering objects.
const LIST_CONCURRENCY: usize = 4;
/// Largest object (compressed) downloaded whole before it is read; memory for bodies is at
/// most `--concurrency` times this.
pub const WHOLE_BODY_MAX: i64 = 8 << 20;

/// One object found by the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub key: String,
    pub size: i64,
    pub etag: Option<String>,
}

/// What the lister hands the fetchers.
enum Listed {
    Object(ObjectRef),
    /// A prefix that could not be listed, with the reason.
    Failed(String, String),
    /// An object left to another shard (`--shard`), only counted.
    OtherShard,
}

/// Decides which listed objects to fetch (the scheduled job skips processed ones).
pub type ObjectFilter = Arc<dyn Fn(&ObjectRef) -> bool + Send + Sync>;

/// A bucket's client for its own region, and where its calls go.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub client: Client,
    pub name: String,
    pub endpoint: Endpoint,
}

impl Bucket {
    /// A call on this bucket, for messages and status lines.
    fn call(&self, permission: &'static str, resource: String, label: String) -> Call {
        Call {
            site: CallSite {
                permission,
                resource,
            },
            endpoint: self.endpoint.clone(),
            label,
        }
    }
}

/// Reads every log object under `url` that can hold events in the window, calling `sink`
/// with each object's outcome as it finishes; returns what the source counted.
pub async fn read(
    ctx: &AwsContext,
    url: &S3Url,
    opts: &IngestOptions,
    filter: Option<ObjectFilter>,
    sink: &mut (dyn FnMut(InputOutcome) + Send),
) -> SourceCounts {
    let mut counts = SourceCounts::default();
    let bucket = match bucket_client(ctx, &url.bucket).await {
        Ok(b) => b,
        Err(e) => {
            sink(InputOutcome::unavailable(
                url.key_url(&url.prefix),
                e.message(ctx.verbose),
            ));
            return counts;
        }
    };
    let (tx, rx) = mpsc::channel::<Listed>(1024);
    let lister = {
        let (bucket, url, ctx, opts) = (bucket.clone(), url.clone(), ctx.clone(), opts.clone());
        tokio::spawn(async move { list_all(&bucket, &url, &ctx, &opts, tx).await })
    };
    let opts = Arc::new(ObjectReader {
        opts: opts.clone(),
        memory: ScratchPool::default(),
    });
    let listed =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let (bucket_ref, opts_ref) = (&bucket, &opts);
    let mut fetches = Box::pin(
        listed
            .filter_map(|item| {
                let keep = match &item {
                    Listed::Failed(..) => true,
                    Listed::Object(o) => admit(o, &opts_ref.opts, filter.as_ref(), &mut counts),
                    Listed::OtherShard => {
                        counts.other_shards += 1;
                        false
                    }
                };
                async move { keep.then_some(item) }
            })
            .map(move |item| {
                let opts = opts_ref.clone();
                async move {
                    match item {
                        Listed::Failed(name, reason) => InputOutcome::unavailable(name, reason),
                        Listed::Object(o) => fetch(ctx, bucket_ref, url, &o.key, opts).await,
                        Listed::OtherShard => {
                            unreachable!("objects of other shards are filtered out above")
                        }
                    }
                }
            })
            .buffer_unordered(ctx.concurrency),
    );
    while let Some(outcome) = fetches.next().await {
        sink(outcome);
    }
    drop(fetches);
    for rows in opts.memory.carried(&url.key_url(&url.prefix)) {
        sink(rows);
    }
    if let Err(e) = lister.await {
        counts
            .messages
            .push(format!("s3://{}: listing task failed: {e}", url.bucket));
    }
    counts
}

/// Counts and passes over digests, non-log names and objects outside the window.
fn admit(
    o: &ObjectRef,
    opts: &IngestOptions,
    filter: Option<&ObjectFilter>,
    counts: &mut SourceCounts,
) -> bool {
    let file = o.key.rsplit('/').next().unwrap_or(&o.key);
    if is_digest_name(&o.key) {
        counts.digests_by_name += 1;
        false
    } else if o.key.ends_with('/') || !is_log_name(file) {
        counts.ignored_by_name += 1;
        false
    } else if !may_hold_window(&o.key, opts.since, opts.until) {
        counts.outside_window += 1;
        false
    } else {
        filter.is_none_or(|f| f(o))
    }
}

/// A client for the bucket's own region (HeadBucket tells it, even in an error answer), so
/// a bucket in another region than the configured one still works. An endpoint that cannot
/// be reached and credentials that cannot be had end the bucket here; other HeadBucket
/// errors (HEAD answers carry no error code) are left to the listing, which explains them.
pub async fn bucket_client(ctx: &AwsContext, bucket: &str) -> Result<Bucket, AwsCallError> {
    let here = Bucket {
        client: ctx.s3(None),
        name: bucket.to_string(),
        endpoint: ctx.s3_endpoint(ctx.region()),
    };
    let call = here.call(
        "s3:ListBucket",
        format!("arn:aws:s3:::{bucket}"),
        format!("s3://{bucket}"),
    );
    let head = send(ctx, &call, &mut Tally::default(), || {
        here.client.head_bucket().bucket(bucket).send()
    })
    .await;
    let region = match head {
        Ok(out) => out.bucket_region().map(str::to_string),
        Err(e) if e.endpoint_down() || e.credentials_down() || e.is_transient() => {
            return Err(e);
        }
        Err(e) => e.bucket_region,
    };
    Ok(match region {
        Some(r) if r != ctx.region() => Bucket {
            client: ctx.s3(Some(&r)),
            endpoint: ctx.s3_endpoint(&r),
            name: bucket.to_string(),
        },
        _ => here,
    })
}

/// Lists every object under the prefixes the layout and flags allow, into `tx`.
async fn list_all(
    bucket: &Bucket,
    url: &S3Url,
    ctx: &AwsContext,
    opts: &IngestOptions,
    tx: mpsc::Sender<Listed>,
) {
    let leaves = match leaf_prefixes(bucket, url, ctx, opts).await {
        Ok(l) => l,
        Err(e) => {
            let _ = tx
                .send(Listed::Failed(
                    url.key_url(&url.prefix),
                    e.message(ctx.verbose),
                ))
                .await;
            return;
        }
    };
    futures::stream::iter(leaves)
        .for_each_concurrent(LIST_CONCURRENCY, |prefix| {
            let tx = tx.clone();
            async move {
                if let Err(e) = list_objects(bucket, ctx, &prefix, opts.shard, &tx).await {
                    let _ = tx
                        .send(Listed::Failed(url.key_url(&prefix), e.message(ctx.verbose)))
                        .await;
                }
            }
        })
        .await;
}

/// The prefixes to list in full: one per account, region and day in the window, or the
/// user's prefix itself when it is not a CloudTrail layout.
async fn leaf_prefixes(
    bucket: &Bucket,
    url: &S3Url,
    ctx: &AwsContext,
    opts: &IngestOptions,
) -> Result<Vec<String>, AwsCallError> {
    let (root, parts) = match layout::position(&url.prefix) {
        Position::Partial => return Ok(vec![url.prefix.clone()]),
        Position::AboveRoot { root } => (root, Vec::new()),
        Position::Inside { root, parts } => (root, parts),
    };
    let mut accounts = Vec::new(); // prefixes ending in `<account>/`
    match parts.first() {
        Some(p) if is_org_id(p) => match parts.get(1) {
            Some(a) => accounts.push(format!("{root}{p}/{a}/")),
            None => {
                for a in list_dirs(bucket, ctx, &format!("{root}{p}/")).await? {
                    accounts.push(format!("{root}{p}/{a}/"));
                }
            }
        },
        Some(a) => accounts.push(format!("{root}{a}/")),
        None => {
            let top = list_dirs(bucket, ctx, &root).await?;
            if top.is_empty() {
                // No CloudTrail layout under the prefix: read every log object in it.
                return Ok(vec![url.prefix.clone()]);
            }
            for d in top {
                if is_org_id(&d) {
                    for a in list_dirs(bucket, ctx, &format!("{root}{d}/")).await? {
                        accounts.push(format!("{root}{d}/{a}/"));
                    }
                } else if is_account_id(&d) {
                    accounts.push(format!("{root}{d}/"));
                }
            }
        }
    }
    let org = parts.first().is_some_and(|p| is_org_id(p));
    let below = &parts[(usize::from(org) + 1).min(parts.len())..];
    accounts.retain(|a| {
        let id = a.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        is_account_id(id) && (ctx.accounts.is_empty() || ctx.accounts.iter().any(|x| x == id))
    });
    if below.first().is_some_and(|s| s != CLOUDTRAIL) {
        // Inside another service's folder (digests, insights): nothing to read.
        return Ok(Vec::new());
    }
    let mut leaves = Vec::new();
    for acct in accounts {
        let service = format!("{acct}{CLOUDTRAIL}/");
        let regions: Vec<String> = match below.get(1) {
            Some(r) => vec![r.clone()],
            None if !ctx.regions.is_empty() => ctx.regions.clone(),
            None => list_dirs(bucket, ctx, &service).await?,
        };
        for r in regions {
            if !ctx.regions.is_empty() && !ctx.regions.contains(&r) {
                continue;
            }
            let region_prefix = format!("{service}{r}/");
            if below.len() > 2 {
                leaves.push(format!("{region_prefix}{}/", below[2..].join("/")));
            } else if opts.since.is_some() || opts.until.is_some() {
                let since = opts.since.unwrap_or(0);
                let until = opts
                    .until
                    .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
                if opts.since.is_none() {
                    leaves.push(region_prefix);
                } else {
                    leaves.extend(day_prefixes(&region_prefix, since, until));
                }
            } else {
                leaves.push(region_prefix);
            }
        }
    }
    Ok(leaves)
}

/// One ListObjectsV2 page under `prefix` (folders only with a delimiter), and the token of
/// the next page when there is one.
async fn list_page(
    bucket: &Bucket,
    ctx: &AwsContext,
    prefix: &str,
    delimiter: Option<&str>,
    token: Option<String>,
) -> Result<(ListObjectsV2Output, Option<String>), AwsCallError> {
    let site = list_site(&bucket.name);
    let call = bucket.call(
        site.permission,
        site.resource,
        format!("s3://{}/{prefix}", bucket.name),
    );
    let req = bucket
        .client
        .list_objects_v2()
        .bucket(&bucket.name)
        .prefix(prefix)
        .set_delimiter(delimiter.map(str::to_string))
        .set_continuation_token(token);
    let page = send(ctx, &call, &mut Tally::default(), || req.clone().send()).await?;
    let next = match page.next_continuation_token() {
        Some(t) if page.is_truncated() == Some(true) => Some(t.to_string()),
        _ => None,
    };
    Ok((page, next))
}

/// The names of the folders directly under `prefix` (ListObjectsV2 with a delimiter).
async fn list_dirs(
    bucket: &Bucket,
    ctx: &AwsContext,
    prefix: &str,
) -> Result<Vec<String>, AwsCallError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let (page, next) = list_page(bucket, ctx, prefix, Some("/"), token).await?;
        for p in page.common_prefixes().iter().filter_map(|cp| cp.prefix()) {
            let name = p[prefix.len().min(p.len())..].trim_end_matches('/');
            if !name.is_empty() {
                out.push(name.to_string());
            }
        }
        match next {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
}

/// Lists every object under `prefix` (all pages) into `tx`. With `--shard`, the prefix
/// (a day folder) is listed whole first, so the shard sees the day's size (a hot day is
/// split by hour), then only this shard's objects are sent.
async fn list_objects(
    bucket: &Bucket,
    ctx: &AwsContext,
    prefix: &str,
    shard: Option<Shard>,
    tx: &mpsc::Sender<Listed>,
) -> Result<(), AwsCallError> {
    let mut token = None;
    let mut held: Vec<ObjectRef> = Vec::new();
    loop {
        let (page, next) = list_page(bucket, ctx, prefix, None, token).await?;
        for o in page.contents() {
            if let Some(key) = o.key() {
                let obj = ObjectRef {
                    key: key.to_string(),
                    size: o.size().unwrap_or(0),
                    etag: o.e_tag().map(str::to_string),
                };
                if shard.is_some() {
                    held.push(obj);
                } else if tx.send(Listed::Object(obj)).await.is_err() {
                    return Ok(());
                }
            }
        }
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    if let Some(shard) = shard {
        let keys: Vec<&str> = held.iter().map(|o| o.key.as_str()).collect();
        let mine = shard.select(&keys);
        for (o, keep) in held.into_iter().zip(mine) {
            let item = if keep {
                Listed::Object(o)
            } else {
                Listed::OtherShard
            };
            if tx.send(item).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The call site of a listing, for error messages.
fn list_site(bucket: &str) -> CallSite {
    CallSite {
        permission: "s3:ListBucket",
        resource: format!("arn:aws:s3:::{bucket}"),
    }
}

/// What reading an object needs: the ingest options, and reader memory shared by the
/// objects in flight.
struct ObjectReader {
    opts: IngestOptions,
    memory: ScratchPool,
}

/// Fetches one object and reads it as it streams; a body that breaks mid-way is fetched
/// again (the partial result is dropped), a corrupt object is reported as it is.
async fn fetch(
    ctx: &AwsContext,
    bucket: &Bucket,
    url: &S3Url,
    key: &str,
    opts: Arc<ObjectReader>,
) -> InputOutcome {
    let name = url.key_url(key);
    let call = bucket.call(
        "s3:GetObject",
        format!("arn:aws:s3:::{}/{key}", url.bucket),
        name.clone(),
    );
    let req = bucket.client.get_object().bucket(&url.bucket).key(key);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let out = match send(ctx, &call, &mut Tally::default(), || req.clone().send()).await {
            Ok(o) => o,
            Err(e) => return InputOutcome::unavailable(name, e.message(ctx.verbose)),
        };
        if out
            .content_length()
            .is_some_and(|n| (0..=WHOLE_BODY_MAX).contains(&n))
        {
            match out.body.collect().await {
                Ok(body) => return read_whole(name, body, opts).await,
                Err(e) if attempt >= BODY_ATTEMPTS => {
                    return InputOutcome::failed(name, format!("read failed: {e}"));
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    continue;
                }
            }
        }
        let broken = Arc::new(AtomicBool::new(false));
        let reader = Watched {
            inner: SyncIoBridge::new(Box::pin(out.body.into_async_read())),
            broken: broken.clone(),
        };
        let (n, o) = (name.clone(), opts.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            match decode_pooled(Box::new(reader), &o.memory.gzip) {
                Ok(r) => o.memory.read_stream(&n, r, &o.opts),
                Err(e) => InputOutcome::failed(n, format!("read failed: {e}")),
            }
        })
        .await
        .unwrap_or_else(|e| InputOutcome::failed(name.clone(), format!("reader task failed: {e}")));
        if broken.load(Ordering::Relaxed) && attempt < BODY_ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            continue;
        }
        return outcome;
    }
}

/// Inflates and scans a downloaded object on the compute pool (rayon, one thread per core,
/// as local files are read), so many objects in flight do not mean many busy threads. The
/// body is read from the pieces it arrived in, not copied into one buffer first.
async fn read_whole(name: String, body: AggregatedBytes, opts: Arc<ObjectReader>) -> InputOutcome {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let n = name.clone();
    rayon::spawn(move || {
        // A whole body is read once and for all: its events can be carried.
        let outcome = match decode_pooled(Box::new(body.reader()), &opts.memory.gzip) {
            Ok(r) => opts.memory.read_stream_carrying(&n, r, &opts.opts),
            Err(e) => InputOutcome::failed(n, format!("read failed: {e}")),
        };
        let _ = tx.send(outcome);
    });
    rx.await
        .unwrap_or_else(|e| InputOutcome::failed(name, format!("reader task failed: {e}")))
}

/// A reader that remembers whether the network stream under it failed (as opposed to the
/// content being corrupt), so the object can be fetched again.
struct Watched<R> {
    inner: R,
    broken: Arc<AtomicBool>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| {
            self.broken.store(true, Ordering::Relaxed);
        })
    }
}
