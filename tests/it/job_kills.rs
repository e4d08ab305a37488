//! The scheduled job killed with SIGKILL at random (seeded) moments, run after run, while it
//! reads a growing folder of logs and delivers to five sinks, two of them flaky (HEC and
//! Elasticsearch answering 503 or dropping connections); then clean runs. No finding is lost
//! at any sink, and duplicates stay within each sink's documented bound: none in the NDJSON
//! and OCSF files (a batch begun and not acknowledged is cut off before writing again), none
//! stored by Elasticsearch (a repeated `_id` is a 409), and for HEC and syslog over TCP at
//! most the batch in flight per kill (a HEC repeat carries its finding id).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keytrail::findings::Finding;
use serde_json::Value;

use crate::common::flaky::{self, Api, Rng};
use crate::common::{keytrail_isolated, sample_delivery_files, stderr, stdout};

const TOKEN: &str = "kill-test-hec-token-77";
/// HEC and Elasticsearch batch sizes in this test.
const BATCH: usize = 2;
/// Findings per syslog TCP chunk (`TCP_CHUNK` in src/sinks/syslog.rs).
const SYSLOG_CHUNK: usize = 100;

/// Days back to 2026-11-08, so the sample logs (from 2026-11-09) stay inside the history
/// whatever the date: the findings over all the logs are then what every sink must hold.
fn history() -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 8).unwrap();
    let days = (chrono::Utc::now().date_naive() - start).num_days() + 1;
    format!("{days}d")
}

/// Starts `keytrail run` on `cfg`, stderr to `log`.
fn spawn_run(cfg: &Path, home: &Path, log: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_keytrail"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SPLUNK_HEC_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// How often each id occurs.
fn counts(ids: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for id in ids {
        *out.entry(id).or_insert(0) += 1;
    }
    out
}

/// Checks one sink: every expected finding there; returns the number of repeats.
fn check_sink(name: &str, got: &BTreeMap<String, usize>, expected: &BTreeSet<String>) -> usize {
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !got.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "{name}: findings lost: {missing:?}");
    got.values().map(|n| n - 1).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_at_random_moments_loses_nothing_and_repeats_within_each_sinks_bound() {
    let seed: u64 = std::env::var("KEYTRAIL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_130);
    eprintln!("kill test seed {seed} (set KEYTRAIL_KILL_SEED to replay another)");
    let hec = flaky::http(Api::Hec(TOKEN.into()), seed ^ 1).await;
    let es = flaky::http(Api::Elastic, seed ^ 2).await;
    let syslog = flaky::syslog_tcp().await;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let logs = d.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let cfg = d.join("keytrail.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"inputs = ["{logs}"]
state = "{state}"
history = "{history}"
retries = 2
retry_delay = "20ms"
[[sink]]
kind = "ndjson"
path = "{d}/findings.ndjson"
[[sink]]
kind = "ocsf"
path = "{d}/findings.ocsf.json"
[[sink]]
kind = "splunk-hec"
url = "{hec}"
token_env = "SPLUNK_HEC_TOKEN"
batch_size = {BATCH}
[[sink]]
kind = "elastic"
url = "{es}"
index = "keytrail-findings"
batch_size = {BATCH}
[[sink]]
kind = "syslog"
address = "{syslog}"
"#,
            logs = logs.display(),
            state = d.join("state.sqlite").display(),
            history = history(),
            d = d.display(),
            hec = hec.url,
            es = es.url,
            syslog = syslog.address,
        ),
    )
    .unwrap();

    let loop_dir = d.clone();
    let cfg2 = cfg.clone();
    let (kills, runs) = tokio::task::spawn_blocking(move || kill_loop(&loop_dir, &cfg2, seed))
        .await
        .unwrap();
    assert!(
        kills >= 30,
        "only {kills} of {runs} runs were killed in flight"
    );

    // The receivers recover; clean runs deliver what is left.
    hec.seen.lock().unwrap().healthy = true;
    es.seen.lock().unwrap().healthy = true;
    let (cfg3, d3) = (cfg.clone(), d.clone());
    let last = tokio::task::spawn_blocking(move || {
        let log = d3.join("last.log");
        for _ in 0..3 {
            let status = spawn_run(&cfg3, &d3, &log, &[]).wait().unwrap();
            if status.code() == Some(0) {
                break;
            }
        }
        let status = spawn_run(&cfg3, &d3, &log, &[]).wait().unwrap();
        (status.code(), std::fs::read_to_string(&log).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(last.0, Some(0), "{}", last.1);
    for sink in ["ndjson:", "ocsf:", "splunk-hec:", "elastic:", "syslog:"] {
        assert!(
            last.1.contains(sink) && !last.1.contains("NOT delivered"),
            "{}",
            last.1
        );
    }
    assert_eq!(
        last.1.matches(": 0 sent").count(),
        5,
        "everything acknowledged: {}",
        last.1
    );

    // What every sink must hold: the findings over all the logs.
    let o = keytrail_isolated(&["scan", logs.to_str().unwrap(), "--format", "ndjson"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected: BTreeSet<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Finding>(l).unwrap().finding_id)
        .collect();
    assert!(expected.len() >= 8);

    let lines = |p: PathBuf| -> Vec<Value> {
        std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("a torn line in {}: {e}: {l}", p.display()))
            })
            .collect()
    };
    let ndjson = counts(lines(d.join("findings.ndjson")).iter().map(|v| {
        serde_json::from_value::<Finding>(v.clone())
            .unwrap()
            .finding_id
    }));
    assert_eq!(
        check_sink("ndjson", &ndjson, &expected),
        0,
        "ndjson: no repeats"
    );
    let ocsf = counts(
        lines(d.join("findings.ocsf.json"))
            .iter()
            .map(|v| v["finding_info"]["uid"].as_str().unwrap().to_string()),
    );
    assert_eq!(check_sink("ocsf", &ocsf, &expected), 0, "ocsf: no repeats");

    let seen = es.seen.lock().unwrap();
    let stored = counts(seen.docs.keys().cloned());
    assert_eq!(check_sink("elastic", &stored, &expected), 0);
    for (id, doc) in &seen.docs {
        assert_eq!(doc["event"]["id"], id.as_str());
    }
    eprintln!(
        "elastic: {} stored, {} repeats refused as 409, {} answered 503, {} dropped",
        seen.docs.len(),
        seen.conflicts,
        seen.failed,
        seen.dropped
    );
    drop(seen);

    let seen = hec.seen.lock().unwrap();
    let hec_ids = counts(
        seen.hec_events
            .iter()
            .map(|e| e["event"]["finding_id"].as_str().unwrap().to_string()),
    );
    let hec_repeats = check_sink("splunk-hec", &hec_ids, &expected);
    eprintln!(
        "splunk-hec: {} events, {hec_repeats} repeats, {} answered 503, {} dropped",
        seen.hec_events.len(),
        seen.failed,
        seen.dropped
    );
    assert!(
        hec_repeats <= kills * BATCH,
        "splunk-hec: {hec_repeats} repeats for {kills} kills (at most a batch of {BATCH} each)"
    );
    drop(seen);

    let msgs = syslog.messages.lock().unwrap().clone();
    let syslog_ids = counts(msgs.iter().map(|m| {
        m.split("externalId=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    }));
    let syslog_repeats = check_sink("syslog", &syslog_ids, &expected);
    eprintln!("syslog: {} messages, {syslog_repeats} repeats", msgs.len());
    assert!(syslog_repeats <= kills * SYSLOG_CHUNK);
    eprintln!("{kills} kills in {runs} runs");
}

/// Runs the job again and again, adding a log file every few runs and killing most runs at
/// a random moment; returns (runs killed in flight, runs).
fn kill_loop(d: &Path, cfg: &Path, seed: u64) -> (usize, usize) {
    let files = sample_delivery_files();
    let logs = d.join("logs");
    let mut next = 0;
    let mut add = |n: usize| {
        for _ in 0..n {
            if let Some(f) = files.get(next) {
                std::fs::copy(
                    f,
                    logs.join(format!(
                        "{next:02}-{}",
                        f.file_name().unwrap().to_string_lossy()
                    )),
                )
                .unwrap();
                next += 1;
            }
        }
    };
    add(3);
    let log = d.join("run.log");
    // The first run creates the state, unkilled. The shortest run that was let finish sets
    // the window kills are drawn from, so most runs are cut, at any point of their work.
    let started = Instant::now();
    let status = spawn_run(cfg, d, &log, &["--init"]).wait().unwrap();
    let mut shortest = started.elapsed();
    assert!(
        matches!(status.code(), Some(0 | 5)),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let mut rng = Rng::new(seed);
    let (mut kills, mut runs) = (0, 1);
    while kills < 32 && runs < 90 {
        if runs % 2 == 0 {
            add(1);
        }
        let window = shortest.as_millis() as u64;
        // One run in six is let finish (and makes progress); the others are killed.
        let kill_at = (rng.below(6) != 0).then(|| window / 5 + rng.below(window));
        let started = Instant::now();
        let mut child = spawn_run(cfg, d, &log, &[]);
        runs += 1;
        if let Some(ms) = kill_at {
            std::thread::sleep(Duration::from_millis(ms));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        let code = child.wait().unwrap().code();
        shortest = shortest.min(started.elapsed());
        assert!(
            matches!(code, Some(0 | 5)),
            "a run that was not killed failed ({code:?}):\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
    }
    add(files.len());
    (kills, runs)
}
