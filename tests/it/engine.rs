//! The events table engine: results do not depend on whether the table fit its memory
//! budget or spilled to disk, spill files never outlive the process, and N shards plus a
//! reduce over their Parquet output find what one run finds.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::{json_of, keytrail, keytrail_exe, root, stderr, stdout};

/// Runs keytrail with `TMPDIR` pointing at `tmp`.
fn keytrail_tmp(args: &[&str], tmp: &Path) -> Output {
    Command::new(keytrail_exe())
        .args(args)
        .current_dir(root())
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .output()
        .expect("run keytrail")
}

/// The same command with the default budget and with a budget so small the table spills
/// after every few events.
fn both_ways(args: &[&str]) -> (Output, Output, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let fit = keytrail_tmp(args, tmp.path());
    let mut tiny = args.to_vec();
    tiny.extend(["--memory-limit", "8K"]);
    let spilled = keytrail_tmp(&tiny, tmp.path());
    (fit, spilled, tmp)
}

#[test]
fn a_spilled_table_gives_the_same_findings_events_queries_keys_and_investigations() {
    let runs: &[&[&str]] = &[
        &["scan", "sample-logs", "--format", "json"],
        &["events", "sample-logs", "--format", "ndjson"],
        &["events", "sample-logs", "--all-events", "--format", "csv"],
        &[
            "query",
            "sample-logs",
            "--format",
            "json",
            "--sql",
            "SELECT event_name, count(*) AS n FROM events GROUP BY event_name ORDER BY event_name",
        ],
        &["keys", "sample-logs", "--format", "json"],
        &[
            "investigate",
            "sample-logs",
            "--user",
            "BedrockAPIKey-q9zp",
            "--format",
            "json",
        ],
    ];
    for args in runs {
        let (fit, spilled, tmp) = both_ways(args);
        assert!(
            !stderr(&fit).contains("spilled"),
            "{args:?}: the default budget holds the sample logs: {}",
            stderr(&fit)
        );
        assert!(
            stderr(&spilled).contains("spilled"),
            "{args:?}: an 8K budget must spill: {}",
            stderr(&spilled)
        );
        assert_eq!(fit.status.code(), spilled.status.code(), "{args:?}");
        assert!(!stdout(&fit).is_empty(), "{args:?}");
        if args[0] == "keys" || args[0] == "investigate" {
            // Reports carry the time they were made; everything else must agree.
            let (mut a, mut b) = (json_of(&fit), json_of(&spilled));
            for v in [&mut a, &mut b] {
                strip_now(v);
            }
            assert_eq!(a, b, "{args:?}");
        } else {
            assert_eq!(stdout(&fit), stdout(&spilled), "{args:?}");
        }
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "{args:?}: no spill file is left behind"
        );
    }
}

/// Removes fields that depend on the time of the run.
fn strip_now(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in ["expired_now", "generated_at", "now"] {
                m.remove(k);
            }
            m.values_mut().for_each(strip_now);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_now),
        _ => {}
    }
}

#[test]
fn duplicate_deliveries_are_dropped_when_they_meet_in_different_spill_runs() {
    // The same delivery file twice, under two names: every event is an exact duplicate.
    let dir = tempfile::tempdir().unwrap();
    let file = crate::common::sample_delivery_files()
        .into_iter()
        .next()
        .unwrap();
    for name in ["a.json.gz", "b.json.gz"] {
        std::fs::copy(&file, dir.path().join(name)).unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let once = keytrail(&[
        "scan",
        file.to_str().unwrap(),
        "--all-events",
        "--format",
        "json",
    ]);
    let n = json_of(&once)["summary"]["events_kept"].as_u64().unwrap();
    assert!(n > 0);
    let (fit, spilled, _tmp) = both_ways(&["scan", d, "--all-events", "--format", "json"]);
    for o in [&fit, &spilled] {
        let s = &json_of(o)["summary"];
        assert_eq!(s["events_kept"].as_u64(), Some(n), "{}", stderr(o));
        assert_eq!(s["duplicate_events_dropped"].as_u64(), Some(n));
    }
    assert!(stderr(&spilled).contains("spilled"));
}

#[test]
fn spill_files_are_gone_after_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    // Enough copies of the sample logs that the run is still going when interrupted.
    for i in 0..40 {
        let to = logs.path().join(format!("copy{i}"));
        copy_tree(&root().join("sample-logs/AWSLogs"), &to);
    }
    let mut child = Command::new(keytrail_exe())
        .args(["scan", logs.path().to_str().unwrap(), "--all-events", "-q"])
        .args(["--memory-limit", "4K", "--format", "json"])
        .current_dir(root())
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let _ = child.wait().unwrap();
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn shards_and_a_reduce_over_their_parquet_find_what_one_run_finds() {
    let out = tempfile::tempdir().unwrap();
    let n = 3;
    let mut shard_files = Vec::new();
    let mut events_total = 0;
    for k in 0..n {
        let path = out.path().join(format!("shard-{k}.parquet"));
        let o = keytrail(&[
            "events",
            "sample-logs",
            "--shard",
            &format!("{k}/{n}"),
            "--format",
            "parquet",
            "--output",
            path.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let kept: u64 = stderr(&o)
            .split(" kept")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("kept count in {}", stderr(&o)));
        events_total += kept;
        shard_files.push(path.to_str().unwrap().to_string());
    }
    let one = keytrail(&["scan", "sample-logs", "--format", "json"]);
    let mut reduce_args = vec!["scan"];
    reduce_args.extend(shard_files.iter().map(String::as_str));
    reduce_args.extend(["--format", "json"]);
    let reduce = keytrail(&reduce_args);
    let (a, b) = (json_of(&one), json_of(&reduce));
    assert_eq!(
        b["summary"]["events_kept"],
        a["summary"]["events_kept"],
        "{}",
        stderr(&reduce)
    );
    assert_eq!(a["summary"]["events_kept"].as_u64(), Some(events_total));
    assert_eq!(
        a["findings"], b["findings"],
        "same findings, ids and fields"
    );
    assert!(!a["findings"].as_array().unwrap().is_empty());
}

#[test]
fn a_parquet_file_that_is_not_an_events_table_is_refused_by_name() {
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("other.parquet");
    let q = keytrail(&[
        "query",
        "sample-logs",
        "--sql",
        "SELECT event_name FROM events",
        "--format",
        "parquet",
        "--output",
        path.to_str().unwrap(),
    ]);
    assert_eq!(q.status.code(), Some(0), "{}", stderr(&q));
    let o = keytrail(&["events", path.to_str().unwrap(), "--format", "ndjson"]);
    assert!(
        stderr(&o).contains("other.parquet") && stderr(&o).contains("not a keytrail events file"),
        "{}",
        stderr(&o)
    );
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn a_query_the_streaming_engine_cannot_run_is_an_error_not_a_crash() {
    // polars 0.52's streaming engine panics ("not yet implemented") on IN (SELECT ...) over
    // the spilled table; the user gets an error naming the way out, and no panic exit (101).
    let tmp = tempfile::tempdir().unwrap();
    let sql = "SELECT event_id FROM events WHERE user_name IN \
               (SELECT target_user FROM events WHERE activity = 'key_created')";
    let out = keytrail_tmp(
        &["query", "sample-logs", "--memory-limit", "8K", "--sql", sql],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("raise --memory-limit"), "{err}");
    // The same query over a table that fits in memory runs.
    let fit = keytrail_tmp(&["query", "sample-logs", "--sql", sql], tmp.path());
    assert!(fit.status.success(), "{}", stderr(&fit));
}
