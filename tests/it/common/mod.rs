//! Helpers shared by the integration tests: run the binary, find the shared datasets.

#![allow(dead_code)]

pub mod flaky;
pub mod http;
pub mod lookup_server;
pub mod real;
pub mod receivers;
pub mod s3_server;
pub mod schema;
pub mod sts_server;
pub mod tokens;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `keytrail` binary cargo built for this test (or bench) target.
pub fn keytrail_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keytrail"))
}

/// Runs `keytrail` with `args` in the repo root.
pub fn keytrail(args: &[&str]) -> Output {
    keytrail_at(&keytrail_exe(), args)
}

/// Runs the keytrail binary `exe` with `args` in the repo root.
pub fn keytrail_at(exe: &Path, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run keytrail")
}

/// Runs `keytrail` with `args`, writing `input` to its standard input.
pub fn keytrail_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_keytrail"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keytrail");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("keytrail output")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `../shared/datasets`, or None with a visible notice; absence fails when
/// `KEYTRAIL_REQUIRE_SHARED=1` (set by `.ci/run`).
pub fn shared_datasets() -> Option<PathBuf> {
    let p = root().join("../shared/datasets");
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("KEYTRAIL_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("KEYTRAIL_REQUIRE_SHARED=1 but {} is missing", p.display());
    }
    eprintln!(
        "NOTICE: {} not found; skipping the real-dataset checks of this test",
        p.display()
    );
    None
}

/// Runs `keytrail` with a clean environment: no AWS variables, config or credentials files
/// or instance metadata from the machine; only `env` (plus PATH and a temporary HOME).
pub fn keytrail_isolated(args: &[&str], env: &[(&str, &str)]) -> Output {
    keytrail_isolated_at(&keytrail_exe(), args, env)
}

/// [`keytrail_isolated`] with the keytrail binary `exe`.
pub fn keytrail_isolated_at(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run keytrail")
}

/// [`keytrail_isolated`] from async tests (the servers keep running meanwhile).
pub async fn run_isolated(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_isolated_at(keytrail_exe(), args, env).await
}

/// [`run_isolated`] with the keytrail binary `exe`.
pub async fn run_isolated_at(exe: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        keytrail_isolated_at(&exe, &a, &e)
    })
    .await
    .expect("keytrail task")
}

/// A job `lookback` (in hours) reaching just before 2026-11-14 00:00 UTC, so the same sample
/// logs (the 14 objects from that day on) are inside it whatever the date and the time of
/// day. In days, the window's start moved with the clock and dropped the 11-14 object
/// (10:24 UTC) from runs made after 10:24.
pub fn sample_logs_lookback() -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 14)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let hours = (chrono::Utc::now() - start).num_hours() + 1;
    format!("{hours}h")
}

/// Every file under `dir`, sorted by path.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The delivery files of the bundled sample logs (account 111122223333), sorted by path.
pub fn sample_delivery_files() -> Vec<PathBuf> {
    files_under(&root().join("sample-logs/AWSLogs/111122223333/CloudTrail"))
}

/// The records of one gzipped delivery file.
pub fn records_of(path: &Path) -> Vec<serde_json::Value> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["Records"].as_array().expect("Records").clone()
}

/// Gzips `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

/// Parses JSON output, with the stderr in the panic message when it is not JSON.
pub fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); exit {:?}; stderr:\n{}",
            o.status.code(),
            stderr(o)
        )
    })
}

/// Event rows without the `source` column (which names where each row was read from).
pub fn rows_without_source(ndjson: &str) -> Vec<serde_json::Value> {
    let mut rows: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("ndjson row");
            v.as_object_mut().expect("object").remove("source");
            v
        })
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

/// Findings reduced to what must agree across sources: id, rule and evidence.
pub fn finding_keys(report: &serde_json::Value) -> Vec<(String, String, u64)> {
    let mut out: Vec<(String, String, u64)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["finding_id"].as_str().unwrap().to_string(),
                f["rule_id"].as_str().unwrap().to_string(),
                f["evidence_count"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Asserts two NDJSON event outputs hold the same rows (ignoring `source`), naming the
/// rows only one side has when they differ.
pub fn assert_same_rows(left: &str, right: &str) {
    let (l, r) = (rows_without_source(left), rows_without_source(right));
    if l == r {
        return;
    }
    let brief = |v: &serde_json::Value| {
        format!("{} {} {}", v["event_time"], v["event_name"], v["event_id"])
    };
    let only_l: Vec<String> = l.iter().filter(|x| !r.contains(x)).map(brief).collect();
    let only_r: Vec<String> = r.iter().filter(|x| !l.contains(x)).map(brief).collect();
    panic!(
        "rows differ ({} vs {}):\n only left: {only_l:#?}\n only right: {only_r:#?}",
        l.len(),
        r.len()
    );
}
