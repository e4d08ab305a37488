//! The deployment examples under `deploy/`: every file parses and the sharding examples hang
//! together (`deploy/check.py`), and the map and reduce scripts of the AWS Batch and
//! Kubernetes examples, run as written with the real binary over the sample logs, find what
//! one run finds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{finding_keys, keytrail, keytrail_exe, root, stderr, stdout};

/// The first `python3` on PATH that has PyYAML (a virtualenv put first on PATH, such as the
/// receivers' one, may lack it while the system's has it, as `.ci/run` installs it).
fn python3_with_yaml() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .map(|d| d.join("python3"))
                .filter(|p| p.is_file())
                .find(|p| {
                    Command::new(p)
                        .args(["-c", "import yaml"])
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
                .unwrap_or_else(|| PathBuf::from("python3"))
        })
        .clone()
}

/// Runs python3 (one with PyYAML when there is one) with `args` in the repository root.
fn python(args: &[&str]) -> std::process::Output {
    Command::new(python3_with_yaml())
        .args(args)
        .current_dir(root())
        .output()
        .expect("python3 is needed for the deploy checks (.ci/run has it)")
}

#[test]
fn deploy_examples_parse_and_the_sharding_ones_agree_on_index_count_volume_and_reduce() {
    let out = python(&["deploy/check.py"]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "deploy/check.py failed (PyYAML missing? pip install PyYAML==6.0.3):\n{text}{}",
        stderr(&out)
    );
    for f in [
        "aws-batch/job-definition-map.json: JSON ok",
        "aws-batch/submit-reduce.json: JSON ok",
        "aws-batch/submit.sh: sh -n ok",
        "kubernetes/indexed-job.yaml: YAML ok (4 documents)",
        "kubernetes/cronjob.yaml: YAML ok",
    ] {
        assert!(text.contains(f), "{f}: {text}");
    }
    assert!(text.contains(", 0 problems"), "{text}");
}

#[test]
fn deploy_check_catches_a_shard_count_that_disagrees_with_the_map_tasks() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&root().join("deploy"), dir.path());
    let yaml = dir.path().join("kubernetes/indexed-job.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, text.replace("completions: 16 ", "completions: 8 ")).unwrap();
    let out = python(&["deploy/check.py", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("map completions 8 != SHARDS 16"),
        "{}",
        stdout(&out)
    );
}

/// The map and reduce scripts of the examples, as (map, reduce) shell texts.
fn scripts(example: &str) -> (String, String) {
    let code = r#"
import json, sys, yaml
which = sys.argv[1]
if which == "batch":
    m = json.load(open("deploy/aws-batch/job-definition-map.json"))["containerProperties"]["command"][2]
    r = json.load(open("deploy/aws-batch/job-definition-reduce.json"))["containerProperties"]["command"][2]
else:
    docs = [d for d in yaml.safe_load_all(open("deploy/kubernetes/indexed-job.yaml")) if d]
    jobs = [d for d in docs if d["kind"] == "Job"]
    pod = lambda j: j["spec"]["template"]["spec"]
    m = "\n".join(pod([j for j in jobs if j["spec"].get("completionMode") == "Indexed"][0])["containers"][0]["args"])
    r = "\n".join(pod([j for j in jobs if j["spec"].get("completionMode") != "Indexed"][0])["containers"][0]["args"])
print(json.dumps([m, r]))
"#;
    let out = python(&["-c", code, example]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    (v[0].clone(), v[1].clone())
}

/// Runs a script with `sh -ec`, keytrail first on PATH, `/shards` moved under `shards`.
fn run_script(script: &str, shards: &Path, env: &[(&str, String)]) -> std::process::Output {
    let bin_dir = keytrail_exe().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = script.replace("/shards/", &format!("{}/", shards.display()));
    let mut cmd = Command::new("sh");
    cmd.args(["-ec", &script])
        .env("PATH", path)
        .current_dir(root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("sh")
}

/// Maps the sample logs in 3 shards with `example`'s map script and reduces them with its
/// reduce script; the reduce's findings must be the one-run findings.
fn map_reduce_equals_one_run(example: &str, index_var: &str) {
    let (map, reduce) = scripts(example);
    let dir = tempfile::tempdir().unwrap();
    let trail = root().join("sample-logs/AWSLogs").display().to_string();
    let (since, until) = ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    let env = |k: usize| {
        vec![
            ("RUN_ID", "run-test".to_string()),
            ("SHARDS", "3".to_string()),
            ("TRAIL", trail.clone()),
            ("SINCE", since.to_string()),
            ("UNTIL", until.to_string()),
            (index_var, k.to_string()),
        ]
    };
    for k in 0..3 {
        let out = run_script(&map, dir.path(), &env(k));
        assert_eq!(out.status.code(), Some(0), "map {k}: {}", stderr(&out));
    }
    let out = run_script(&reduce, dir.path(), &env(0));
    assert_eq!(out.status.code(), Some(0), "reduce: {}", stderr(&out));
    let findings: PathBuf = dir.path().join("run-test/findings.json");
    let reduced: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&findings).unwrap()).unwrap();
    let one = keytrail(&[
        "scan",
        "sample-logs/AWSLogs",
        "--since",
        since,
        "--until",
        until,
        "--format",
        "json",
    ]);
    let one: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert!(!finding_keys(&one).is_empty());
    assert_eq!(finding_keys(&reduced), finding_keys(&one));
}

#[test]
fn aws_batch_array_map_and_reduce_scripts_find_what_one_run_finds() {
    map_reduce_equals_one_run("batch", "AWS_BATCH_JOB_ARRAY_INDEX");
}

#[test]
fn kubernetes_indexed_map_and_reduce_scripts_find_what_one_run_finds() {
    map_reduce_equals_one_run("kubernetes", "JOB_COMPLETION_INDEX");
}

/// Copies a folder tree.
fn copy_tree(from: &Path, to: &Path) {
    for f in crate::common::files_under(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}
