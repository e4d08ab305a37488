//! LookupEvents benchmark: the bench corpus's management events served by the tests'
//! LookupEvents stand-in (`tests/it/common/lookup_server.rs`), read with the release
//! `keytrail events lookup:REGIONS`; reports the calls made per 1,000 Bedrock-relevant
//! events, the busiest one-second window per region (must stay at or under 2: PASS/FAIL),
//! and whether the rows equal those of the same events read from the local files.
//!
//! `cargo bench --bench lookup` (or the built binary; `KEYTRAIL_BIN` names the keytrail to
//! run, default the one cargo built). The corpus is
//! `$KEYTRAIL_BENCH_DIR` (default `$HOME/.cache/keytrail/bench-corpus/sparse-1m`, the sparse
//! corpus `benches/run.sh` makes with `benches/gen_corpus.py`; its `MANIFEST.json` names the
//! regions). Exit status: 0 when the
//! rate limit held and the rows agree, 1 when not, 2 when the benchmark could not run.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde_json::Value;

use common::lookup_server::{self, Call, LookupServer, Served};
use keytrail::sources::lookup::{IAM_EVENT_NAMES, LookupPlan, MAX_RESULTS, queries};

/// The documented LookupEvents limit: calls per second per account and region.
const API_LIMIT_PER_SECOND: usize = 2;

/// What the benchmark keeps of the corpus.
#[derive(Default)]
struct Corpus {
    /// Delivery files read.
    files: usize,
    /// Records in them.
    records: u64,
    /// Management events a LookupEvents query of keytrail's could return, by delivery region.
    served: Vec<Served>,
    /// Event ids of data events that mention Bedrock (LookupEvents never returns them).
    data_ids: HashSet<String>,
}

impl Corpus {
    /// Adds another part's counts and events.
    fn merge(mut self, other: Corpus) -> Corpus {
        self.files += other.files;
        self.records += other.records;
        self.served.extend(other.served);
        self.data_ids.extend(other.data_ids);
        self
    }
}

/// Calls, throttles and events of one region as keytrail reported them on stderr.
#[derive(Debug, Default, Clone, Copy)]
struct RegionReport {
    calls: u64,
    throttled: u64,
    events: u64,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("lookup bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the benchmark and prints its report; `Ok(false)` when a check failed.
fn run() -> Result<bool> {
    let dir = corpus_dir()?;
    let regions = manifest_regions(&dir)?;
    println!(
        "LookupEvents benchmark: corpus {}, keytrail {}",
        dir.display(),
        keytrail_exe().display()
    );

    let t = Instant::now();
    let corpus = load(&dir.join("AWSLogs"))?;
    println!(
        "  read {} files, {} records in {:.1} s; the stand-in holds {} management events",
        corpus.files,
        corpus.records,
        t.elapsed().as_secs_f64(),
        corpus.served.len()
    );

    let local = local_rows(&dir, &regions, &corpus.data_ids)?;
    let spec = format!("lookup:{}", regions.join(","));
    let minimum: BTreeMap<String, u64> = regions
        .iter()
        .map(|r| (r.clone(), minimum_calls(&corpus.served, r)))
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = lookup_server::start(corpus.served, 0).await;
        let t = Instant::now();
        let out = run_keytrail(&server, &spec).await;
        let wall = t.elapsed();
        let err = common::stderr(&out);
        if out.status.code() != Some(0) {
            bail!("keytrail events {spec} failed ({:?}):\n{err}", out.status);
        }
        let remote = common::stdout(&out);
        Ok(report(
            &server, &regions, &minimum, wall, &err, &remote, &local,
        ))
    })
}

/// `$KEYTRAIL_BIN` (benches/run.sh's private copy of the binary it times), or the keytrail
/// cargo built next to this bench.
fn keytrail_exe() -> PathBuf {
    std::env::var_os("KEYTRAIL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(common::keytrail_exe)
}

/// `$KEYTRAIL_BENCH_DIR`, or `$HOME/.cache/keytrail/bench-corpus/sparse-1m`.
fn corpus_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("KEYTRAIL_BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
            .join(".cache/keytrail/bench-corpus/sparse-1m"),
    };
    if !dir.join("AWSLogs").is_dir() {
        bail!(
            "no corpus at {} (make one with benches/run.sh or benches/gen_corpus.py)",
            dir.display()
        );
    }
    Ok(dir)
}

/// The regions the corpus was generated for (`regions` in its MANIFEST.json).
fn manifest_regions(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("MANIFEST.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let m: Value = serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let regions: Vec<String> = m["regions"]
        .as_array()
        .context("MANIFEST.json has no regions")?
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    Ok(regions)
}

/// Reads every delivery file under `awslogs` (in parallel), keeping what the stand-in needs.
fn load(awslogs: &Path) -> Result<Corpus> {
    let files: Vec<PathBuf> = common::files_under(awslogs)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    let needles = needles()?;
    files
        .par_iter()
        .map(|f| load_file(f, &needles))
        .try_reduce(Corpus::default, |a, b| Ok(a.merge(b)))
}

/// The prefilter: records that contain none of these are never parsed. "bedrock" in any
/// case (event sources, BedrockAPIKey- users, AmazonBedrock policies) and the IAM event
/// names keytrail asks for; the exact selection is made after parsing.
fn needles() -> Result<AhoCorasick> {
    let mut words = vec!["bedrock"];
    words.extend(IAM_EVENT_NAMES);
    Ok(AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(words)?)
}

/// One delivery file's records, sorted into served management events and data-event ids.
fn load_file(path: &Path, needles: &AhoCorasick) -> Result<Corpus> {
    let region = delivery_region(path)
        .with_context(|| format!("{}: not in the delivery layout", path.display()))?;
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let reader = keytrail::sources::local::decode(Box::new(file))?;
    let mut part = Corpus {
        files: 1,
        ..Corpus::default()
    };
    let mut bad = None;
    let end = keytrail::sources::scanner::split_records(reader, &mut |piece| {
        let keytrail::sources::scanner::Piece::Record { bytes: raw, .. } = piece else {
            bad = Some(format!("{piece:?}"));
            return;
        };
        part.records += 1;
        if !needles.is_match(raw) {
            return;
        }
        match serde_json::from_slice::<Value>(raw) {
            Ok(r) => keep(&mut part, &region, r),
            Err(e) => bad = Some(e.to_string()),
        }
    });
    if let Some(e) = end.cut_short.map(|e| e.to_string()).or(bad) {
        bail!("{}: {e}", path.display());
    }
    Ok(part)
}

/// Holds a record for the stand-in when some query of keytrail's could return it
/// (`EventSource=bedrock.amazonaws.com`, or one of the IAM event names, in any region);
/// remembers the ids of data events.
fn keep(part: &mut Corpus, region: &str, r: Value) {
    if r["eventCategory"] == "Data" {
        if let Some(id) = r["eventID"].as_str() {
            part.data_ids.insert(id.to_string());
        }
        return;
    }
    let name = r["eventName"].as_str().unwrap_or("");
    if r["eventSource"] == "bedrock.amazonaws.com" || IAM_EVENT_NAMES.contains(&name) {
        part.served.push(Served::new(region, r));
    }
}

/// The region folder of a delivery file: `.../CloudTrail/<region>/YYYY/MM/DD/<file>`.
fn delivery_region(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let i = parts.iter().rposition(|p| p == "CloudTrail")?;
    parts.get(i + 1).cloned()
}

/// The fewest calls keytrail's queries in `region` can take: one per page of
/// `MAX_RESULTS`, and one for a query that finds nothing.
fn minimum_calls(served: &[Served], region: &str) -> u64 {
    queries(&LookupPlan::Relevant, region)
        .into_iter()
        .flatten()
        .map(|(key, value)| {
            let n = served
                .iter()
                .filter(|e| e.region == region && lookup_server::matches(e, key.as_str(), &value))
                .count() as u64;
            n.div_ceil(MAX_RESULTS as u64).max(1)
        })
        .sum()
}

/// `keytrail events <corpus> --format ndjson`, kept to the regions and to management events:
/// the rows LookupEvents should give.
fn local_rows(dir: &Path, regions: &[String], data_ids: &HashSet<String>) -> Result<String> {
    let corpus = dir.join("AWSLogs");
    let corpus = corpus.to_str().context("corpus path is not UTF-8")?;
    let out = common::keytrail_at(&keytrail_exe(), &["events", corpus, "--format", "ndjson"]);
    if out.status.code() != Some(0) {
        bail!("keytrail events {corpus} failed: {}", common::stderr(&out));
    }
    let mut kept = String::new();
    for line in common::stdout(&out).lines() {
        let row: Value = serde_json::from_str(line)?;
        let id = row["event_id"].as_str().unwrap_or("");
        let region = row["aws_region"].as_str().unwrap_or("");
        if !data_ids.contains(id) && regions.iter().any(|r| r == region) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    Ok(kept)
}

/// Runs the release keytrail against the stand-in, with an isolated environment.
async fn run_keytrail(server: &LookupServer, spec: &str) -> std::process::Output {
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAKEYTRAILBENCH002"),
        ("AWS_SECRET_ACCESS_KEY", "keytrail-bench-secret"),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", server.endpoint.as_str()),
    ];
    let args = ["events", spec, "--format", "ndjson"];
    common::run_isolated_at(keytrail_exe(), &args, &env).await
}

/// keytrail's `N AWS API calls` from its summary line.
fn summary_api_calls(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("keytrail: ") && l.ends_with(" AWS API calls"))?;
    let before = line.split(" AWS API calls").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

/// keytrail's `keytrail: lookup:REGION: N LookupEvents calls (T throttled), E events` line.
fn region_report(stderr: &str, region: &str) -> Option<RegionReport> {
    let prefix = format!("keytrail: lookup:{region}: ");
    let line = stderr.lines().find_map(|l| l.strip_prefix(&prefix))?;
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match nums[..] {
        [calls, throttled, events] => Some(RegionReport {
            calls,
            throttled,
            events,
        }),
        _ => None,
    }
}

/// The shortest time between two calls the server saw for `region`.
fn min_gap(calls: &[Call], region: &str) -> Option<Duration> {
    let mut at: Vec<_> = calls
        .iter()
        .filter(|c| c.region == region)
        .map(|c| c.at)
        .collect();
    at.sort();
    at.windows(2).map(|w| w[1] - w[0]).min()
}

/// Event ids of NDJSON rows.
fn event_ids(ndjson: &str) -> BTreeSet<String> {
    common::rows_without_source(ndjson)
        .iter()
        .filter_map(|r| r["event_id"].as_str().map(str::to_string))
        .collect()
}

/// Prints the report; true when the rate limit held and the rows agree.
fn report(
    server: &LookupServer,
    regions: &[String],
    minimum: &BTreeMap<String, u64>,
    wall: Duration,
    stderr: &str,
    remote: &str,
    local: &str,
) -> bool {
    let calls = server.calls.lock().unwrap().clone();
    let relevant = local.lines().count() as u64;
    let kt_calls = summary_api_calls(stderr);
    println!(
        "\nkeytrail events lookup:{} --format ndjson",
        regions.join(",")
    );
    println!(
        "| region | calls (server) | calls (keytrail) | fewest possible | throttled (server / keytrail) | events returned | max calls in 1 s | min gap ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut returned = 0;
    let mut rate_ok = true;
    for r in regions {
        let n = calls.iter().filter(|c| &c.region == r).count();
        let throttled = calls
            .iter()
            .filter(|c| &c.region == r && c.throttled)
            .count();
        let kt = region_report(stderr, r).unwrap_or_default();
        let max = server.max_calls_in_one_second(Some(r));
        rate_ok &= max <= API_LIMIT_PER_SECOND && throttled == 0;
        returned += kt.events;
        println!(
            "| {r} | {n} | {} | {} | {throttled} / {} | {} | {max} | {} |",
            kt.calls,
            minimum[r],
            kt.throttled,
            kt.events,
            min_gap(&calls, r).map_or("-".to_string(), |g| g.as_millis().to_string())
        );
    }
    let total = calls.len();
    println!(
        "\n  wall time                              {:.1} s",
        wall.as_secs_f64()
    );
    println!(
        "  API calls: server / keytrail summary   {total} / {}",
        kt_calls.map_or("?".to_string(), |n| n.to_string())
    );
    println!(
        "  fewest possible calls                  {}",
        minimum.values().sum::<u64>()
    );
    println!("  events returned by LookupEvents        {returned}");
    println!("  Bedrock-relevant management events     {relevant} (in the corpus, these regions)");
    println!(
        "  rows keytrail wrote                    {}",
        remote.lines().count()
    );
    println!(
        "  calls per 1,000 relevant events        {:.1}",
        total as f64 * 1000.0 / relevant.max(1) as f64
    );
    println!(
        "  throttled calls (server)               {}",
        server.rate_violations()
    );
    let max = server.max_calls_per_second();
    println!(
        "  max calls in any 1 s window, a region  {max} (limit {API_LIMIT_PER_SECOND}): {}",
        if rate_ok { "PASS" } else { "FAIL" }
    );
    let rows_ok = compare_rows(remote, local);
    let calls_ok = kt_calls == Some(total as u64);
    if !calls_ok {
        println!("  NOTE: keytrail counted {kt_calls:?} API calls, the server saw {total}");
    }
    rate_ok && rows_ok
}

/// Compares keytrail's LookupEvents rows with the local ones (all columns but `source`),
/// prints the outcome and returns whether they agree.
fn compare_rows(remote: &str, local: &str) -> bool {
    let same_rows = common::rows_without_source(remote) == common::rows_without_source(local);
    let (r, l) = (event_ids(remote), event_ids(local));
    if same_rows {
        println!(
            "  rows equal the local files' (all columns but source): yes, {} = {} event ids",
            r.len(),
            l.len()
        );
        return true;
    }
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| -> Vec<String> {
        a.difference(b).take(5).cloned().collect()
    };
    println!(
        "  FAIL: rows differ from the local files': lookup {} rows, local {}; only lookup: {:?}; only local: {:?}",
        r.len(),
        l.len(),
        only(&r, &l),
        only(&l, &r)
    );
    false
}
