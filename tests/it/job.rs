//! The scheduled job (`keytrail run`) against the in-process S3 server: a second run finds
//! nothing new, a new object brings only its findings, and a run killed in the middle of
//! delivery, started again, loses no finding and sends none twice.

use crate::common;

use std::path::Path;
use std::time::Duration;

use crate::common::s3_server::{self, ACCESS_KEY, S3Server, SECRET_KEY};
use crate::common::{gzip, root, run_isolated, sample_logs_lookback, stderr};

/// Writes a job configuration with the given sink files.
fn config(dir: &Path, sinks: &[&Path]) -> std::path::PathBuf {
    let mut text = format!(
        "inputs = [\"s3://trail\"]\nstate = \"{}\"\nlookback = \"{}\"\nhistory = \"{}\"\n[aws]\nforce_path_style = true\n",
        dir.join("state.sqlite").display(),
        sample_logs_lookback(),
        sample_logs_lookback()
    );
    for s in sinks {
        text.push_str(&format!(
            "[[sink]]\nkind = \"ndjson\"\npath = \"{}\"\n",
            s.display()
        ));
    }
    let p = dir.join("keytrail.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The environment pointing at the server.
fn env(s3: &S3Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.clone()),
    ]
}

/// Runs `keytrail run` once.
async fn run_job(s3: &S3Server, cfg: &Path, extra: &[&str]) -> std::process::Output {
    let e = env(s3);
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["run", "--config", cfg.to_str().unwrap()];
    args.extend(extra);
    run_isolated(&args, &e).await
}

/// The findings in an NDJSON sink file.
fn delivered(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Finding ids, sorted.
fn ids(v: &[serde_json::Value]) -> Vec<String> {
    let mut out: Vec<String> = v
        .iter()
        .map(|f| f["finding_id"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_run_finds_nothing_new_and_a_new_object_brings_only_its_findings() {
    let s3 = s3_server::start().await;
    s3.put_tree("trail", "AWSLogs/", &root().join("sample-logs/AWSLogs"));
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("findings.ndjson");
    let cfg = config(dir.path(), &[&sink]);

    let dry = run_job(&s3, &cfg, &["--dry-run"]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert!(
        !dir.path().join("findings.ndjson").exists(),
        "a dry run delivers nothing"
    );
    let would = dry
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();

    let first = run_job(&s3, &cfg, &["--init"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let after_first = delivered(&sink);
    assert_eq!(after_first.len(), would);
    assert!(after_first.len() >= 8, "{}", after_first.len());
    assert!(
        stderr(&first).contains("keytrail run: 14 new inputs"),
        "{}",
        stderr(&first)
    );

    let second = run_job(&s3, &cfg, &[]).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(
        delivered(&sink).len(),
        after_first.len(),
        "nothing new: nothing sent"
    );
    let err = stderr(&second);
    assert!(err.contains("keytrail run: 0 new inputs"), "{err}");
    assert!(err.contains(": 0 sent"), "{err}");

    // A late delivery: one more bearer call by the deactivated key, in a new object.
    let rec = r#"{"Records":[{"eventVersion":"1.09","eventID":"late-0001","eventTime":"2026-11-20T05:00:00Z","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.45","recipientAccountId":"111122223333","eventCategory":"Management","userIdentity":{"type":"IAMUser","principalId":"AIDA5F49MJOE4U2228RCP","arn":"arn:aws:iam::111122223333:user/BedrockAPIKey-x7k2","accountId":"111122223333","userName":"BedrockAPIKey-x7k2"},"requestParameters":{"modelId":"amazon.nova-pro-v1:0"},"additionalEventData":{"callWithBearerToken":true}}]}"#;
    s3.put(
        "trail",
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0505Z_late000000000000.json.gz",
        &gzip(rec.as_bytes()),
    );
    let third = run_job(&s3, &cfg, &[]).await;
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert!(
        stderr(&third).contains("keytrail run: 1 new inputs"),
        "{}",
        stderr(&third)
    );
    let all = delivered(&sink);
    let new = &all[after_first.len()..];
    assert!(!new.is_empty());
    for f in new {
        let ev: Vec<&str> = f["evidence_event_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            ev.contains(&"late-0001"),
            "only findings with the new event are sent: {f}"
        );
    }
    assert!(
        new.iter()
            .any(|f| f["rule_id"] == "key_used_after_revocation")
    );
    // Rules that span runs still see the earlier events (the revocation came in run 1).
    let fetched_late = s3
        .fetched("trail")
        .iter()
        .filter(|k| k.contains("late0000"))
        .count();
    assert_eq!(fetched_late, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_during_delivery_loses_nothing_and_sends_nothing_twice() {
    let s3 = s3_server::start().await;
    s3.put_tree("trail", "AWSLogs/", &root().join("sample-logs/AWSLogs"));
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
    // Sink b is a FIFO nobody reads: opening it blocks, so the run hangs after sink a.
    let made = std::process::Command::new("mkfifo")
        .arg(&b)
        .status()
        .unwrap();
    assert!(made.success());
    let cfg = config(dir.path(), &[&a, &b]);

    let e = env(&s3);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keytrail"))
        .args(["run", "--config", cfg.to_str().unwrap(), "--init"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(e.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until sink a acknowledged, then kill the run mid-delivery.
    let mut waited = 0;
    while delivered(&a).is_empty() && waited < 600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run should be blocked on sink b"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let a_first = delivered(&a);
    assert!(!a_first.is_empty());

    // Sink b works again; the run starts over.
    std::fs::remove_file(&b).unwrap();
    let again = run_job(&s3, &cfg, &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        delivered(&a).len(),
        a_first.len(),
        "sink a acknowledged before the kill: nothing twice"
    );
    assert_eq!(
        ids(&delivered(&b)),
        ids(&a_first),
        "sink b gets every finding: nothing lost"
    );
    assert!(
        stderr(&again).contains("keytrail run: 14 new inputs"),
        "the killed run committed nothing"
    );

    let last = run_job(&s3, &cfg, &[]).await;
    assert_eq!(delivered(&b).len(), a_first.len());
    assert!(
        stderr(&last).contains("keytrail run: 0 new inputs"),
        "{}",
        stderr(&last)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_queries_resume_where_the_last_run_stopped() {
    let server = common::lookup_server::start(common::lookup_server::management_events(), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("f.ndjson");
    let cfg = dir.path().join("keytrail.toml");
    std::fs::write(
        &cfg,
        format!(
            "inputs = [\"lookup:us-west-2,eu-central-1\"]\nstate = \"{}\"\nlookback = \"{}\"\n[[sink]]\nkind = \"ndjson\"\npath = \"{}\"\n",
            dir.path().join("s.sqlite").display(),
            sample_logs_lookback(),
            sink.display()
        ),
    )
    .unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAKEYTRAILJOB00001"),
        ("AWS_SECRET_ACCESS_KEY", "job-secret"),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", server.endpoint.as_str()),
    ];
    let args = ["run", "--config", cfg.to_str().unwrap()];
    let first = run_isolated(&[&args[..], &["--init"]].concat(), &env).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(!delivered(&sink).is_empty());
    assert!(
        !stderr(&first).contains(" 0 events read"),
        "{}",
        stderr(&first)
    );
    assert!(
        !stderr(&first).contains(" 0 AWS API calls"),
        "the LookupEvents calls are counted: {}",
        stderr(&first)
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = run_isolated(&args, &env).await;
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(0), "{err}");
    // The sample events are days old: from 15 minutes before the last run there is nothing.
    assert!(
        err.contains("keytrail run: 2 new inputs, 0 events read"),
        "{err}"
    );
    assert!(err.contains(": 0 sent"), "{err}");
    assert_eq!(server.rate_violations(), 0);
}

/// A job over the local sample logs with one NDJSON sink; returns (config, state, sink).
fn local_config(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let state = dir.join("var/state.sqlite");
    let sink = dir.join("findings.ndjson");
    let cfg = dir.join("keytrail.toml");
    std::fs::write(
        &cfg,
        format!(
            "inputs = [\"{}\"]\nstate = \"{}\"\nhistory = \"{}\"\n[[sink]]\nkind = \"ndjson\"\npath = \"{}\"\n",
            root().join("sample-logs").display(),
            state.display(),
            sample_logs_lookback(),
            sink.display()
        ),
    )
    .unwrap();
    (cfg, state, sink)
}

#[test]
fn a_job_runs_over_a_local_folder_and_reads_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _, sink) = local_config(dir.path());
    let args = ["run", "--config", cfg.to_str().unwrap()];
    let first = common::keytrail_isolated(&[&args[..], &["--init"]].concat(), &[]);
    let err = stderr(&first);
    assert_eq!(first.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("keytrail run: 0 new inputs") && !err.contains(" 0 events read"),
        "{err}"
    );
    assert!(
        err.contains(" 0 AWS API calls"),
        "local files need no AWS: {err}"
    );
    let n = delivered(&sink).len();
    assert!(n >= 8, "{n}");
    assert!(err.contains(&format!(": {n} sent")), "{err}");

    let second = common::keytrail_isolated(&args, &[]);
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(0), "{err}");
    assert!(err.contains("keytrail run: 0 new inputs"), "{err}");
    assert!(err.contains(": 0 sent"), "{err}");
    assert_eq!(delivered(&sink).len(), n);
}

#[test]
fn a_dry_run_writes_nothing_not_even_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, state, sink) = local_config(dir.path());
    let dry = common::keytrail_isolated(
        &["run", "--config", cfg.to_str().unwrap(), "--dry-run"],
        &[],
    );
    let err = stderr(&dry);
    assert_eq!(dry.status.code(), Some(0), "{err}");
    assert!(
        common::stdout(&dry).lines().count() >= 8,
        "the pending findings on stdout"
    );
    assert!(err.contains("does not exist"), "{err}");
    assert!(!state.parent().unwrap().exists(), "no state folder");
    assert!(!sink.exists(), "no sink file");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["keytrail.toml"], "nothing else written");

    // With a state: read, not changed.
    let init =
        common::keytrail_isolated(&["run", "--config", cfg.to_str().unwrap(), "--init"], &[]);
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    let before = std::fs::read(&state).unwrap();
    let dry = common::keytrail_isolated(
        &["run", "--config", cfg.to_str().unwrap(), "--dry-run"],
        &[],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert_eq!(common::stdout(&dry), "", "nothing pending");
    assert_eq!(std::fs::read(&state).unwrap(), before);
}

#[test]
fn a_missing_empty_or_damaged_state_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, state, sink) = local_config(dir.path());
    let run = |extra: &[&str]| {
        let mut a = vec!["run", "--config", cfg.to_str().unwrap()];
        a.extend_from_slice(extra);
        common::keytrail_isolated(&a, &[])
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("does not exist") && err.contains("--init"),
        "{err}"
    );
    assert!(
        !sink.exists() && !state.exists(),
        "nothing sent, nothing created"
    );

    assert_eq!(run(&["--init"]).status.code(), Some(0));
    let n = delivered(&sink).len();

    // A lost volume: the file is there but empty.
    std::fs::write(&state, b"").unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is empty"), "{}", stderr(&o));
    assert_eq!(delivered(&sink).len(), n, "nothing re-sent");

    // Damage: not a database at all.
    std::fs::write(&state, vec![7u8; 16384]).unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("damaged") && err.contains("Restore"), "{err}");
    // Starting over knowingly: the damaged file is kept aside.
    let o = run(&["--init"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains(".damaged-"), "{}", stderr(&o));
    assert_eq!(
        delivered(&sink).len(),
        2 * n,
        "a new state sends everything again"
    );
}
