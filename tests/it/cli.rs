//! A consistent command line (issue 12): every command takes -o/--output and -q, --help
//! offers only the formats a command writes, flags sit under headings that fit, each
//! command shows examples, and exit codes match the README for every format.

use crate::common::{keytrail, keytrail_stdin, stderr, stdout};

/// The commands that read or write results (`run` is the scheduled job, configured by file).
const COMMANDS: &[&str] = &[
    "scan",
    "events",
    "query",
    "decode",
    "keys",
    "investigate",
    "remediate",
    "doctor",
    "rules list",
    "rules lint",
    "completions",
    "man",
];

/// `keytrail CMD -h` (the short help: one line per flag).
fn help(cmd: &str) -> String {
    let mut args: Vec<&str> = cmd.split(' ').collect();
    args.push("-h");
    let o = keytrail(&args);
    assert_eq!(o.status.code(), Some(0), "{cmd} -h: {}", stderr(&o));
    stdout(&o)
}

/// The flags listed under one heading of a help text (up to the next heading).
fn section(help: &str, heading: &str) -> Vec<String> {
    let start = help
        .lines()
        .position(|l| l == format!("{heading}:"))
        .unwrap_or_else(|| panic!("no heading {heading:?} in:\n{help}"));
    help.lines()
        .skip(start + 1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .filter_map(|l| {
            let t = l.trim_start();
            t.starts_with('-').then(|| {
                t.split([' ', ','])
                    .find(|w| w.starts_with("--"))
                    .unwrap_or(t)
                    .to_string()
            })
        })
        .collect()
}

/// The `[possible values: ...]` of `--format` in a help text (the short help lists them).
fn formats(cmd: &str) -> Vec<String> {
    let h = help(cmd);
    let line = h
        .lines()
        .skip_while(|l| !l.contains("--format <"))
        .find(|l| l.contains("[possible values:"))
        .unwrap_or_else(|| panic!("{cmd}: no format values in\n{h}"));
    let inner = line
        .split("[possible values: ")
        .nth(1)
        .unwrap()
        .trim_end_matches(']');
    inner.split(", ").map(String::from).collect()
}

#[test]
fn every_command_takes_output_and_quiet() {
    for cmd in COMMANDS {
        let h = help(cmd);
        assert!(
            h.contains("-o, --output <FILE>"),
            "{cmd} has no -o/--output:\n{h}"
        );
        assert!(h.contains("-q, --quiet"), "{cmd} has no -q/--quiet:\n{h}");
    }
}

#[test]
fn help_offers_only_the_formats_each_command_writes() {
    let expect: &[(&str, &[&str])] = &[
        ("scan", &["table", "json", "ndjson", "csv", "html"]),
        ("events", &["table", "json", "ndjson", "csv", "parquet"]),
        ("query", &["table", "json", "ndjson", "csv", "parquet"]),
        ("keys", &["table", "json", "ndjson"]),
        ("investigate", &["table", "json", "ndjson"]),
        ("decode", &["table", "json", "ndjson"]),
        ("remediate", &["table", "json"]),
    ];
    for (cmd, want) in expect {
        assert_eq!(formats(cmd), *want, "{cmd}");
    }
    // What is not offered is refused by clap with the offered list, not in Rust casing.
    let o = keytrail(&["keys", "sample-logs", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("[possible values: table, json, ndjson]"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("Csv"));
}

#[test]
fn flags_sit_under_headings_that_fit() {
    let scan = help("scan");
    let aws = section(&scan, "AWS (s3:// and lookup: inputs)");
    assert!(aws.contains(&"--profile".to_string()) && aws.contains(&"--region".to_string()));
    for stray in [
        "--queries",
        "--fail-on",
        "--format",
        "--output",
        "--rule",
        "--min-severity",
    ] {
        assert!(
            !aws.iter().any(|f| f == stray),
            "{stray} under AWS: {aws:?}"
        );
    }
    let rules = section(&scan, "Rules");
    for f in ["--queries", "--rule", "--min-severity", "--fail-on"] {
        assert!(
            rules.iter().any(|x| x == f),
            "{f} not under Rules: {rules:?}"
        );
    }
    let out = section(&scan, "Output");
    for f in ["--format", "--output", "--quiet", "--color"] {
        assert!(out.iter().any(|x| x == f), "{f} not under Output: {out:?}");
    }
    let q = help("query");
    assert!(section(&q, "Query").contains(&"--sql".to_string()));
    assert!(!section(&q, "AWS (s3:// and lookup: inputs)").contains(&"--sql".to_string()));
    let inv = help("investigate");
    let subject = section(&inv, "Subject (exactly one)");
    for f in [
        "--token",
        "--user",
        "--access-key-id",
        "--credential-id",
        "--source-ip",
    ] {
        assert!(
            subject.iter().any(|x| x == f),
            "{f} not under Subject: {subject:?}"
        );
    }
}

#[test]
fn every_command_shows_examples() {
    for cmd in [
        "scan",
        "events",
        "query",
        "decode",
        "keys",
        "investigate",
        "remediate",
        "doctor",
        "completions",
        "man",
    ] {
        let h = help(cmd);
        let n = h
            .lines()
            .skip_while(|l| *l != "Examples:")
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter(|l| l.contains("keytrail "))
            .count();
        assert!((2..=3).contains(&n), "{cmd}: {n} examples:\n{h}");
    }
}

#[test]
fn remediate_says_table_and_still_accepts_text() {
    let args = |f: &'static str| {
        [
            "remediate",
            "--user",
            "BedrockAPIKey-x7k2",
            "--credential-id",
            "ACCAEXAMPLE1234567890",
            "--format",
            f,
        ]
    };
    let t = keytrail(&args("table"));
    assert_eq!(t.status.code(), Some(0), "{}", stderr(&t));
    let x = keytrail(&args("text"));
    assert_eq!(stdout(&t), stdout(&x));
    assert!(stdout(&t).contains("update-service-specific-credential"));
}

#[test]
fn decode_exit_codes_match_the_readme_for_every_format() {
    // No key decoded: 2 for every format; JSON still gets its document with the problems.
    for format in ["table", "json", "ndjson"] {
        let o = keytrail_stdin(
            &["decode", "--format", format],
            "ABSKbm90LWEta2V5LWF0LWFsbA==\n",
        );
        assert_eq!(o.status.code(), Some(2), "{format}: {}", stderr(&o));
        if format == "json" {
            let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            assert_eq!(doc["tokens"].as_array().unwrap().len(), 0);
            assert!(!doc["problems"].as_array().unwrap().is_empty());
        }
    }
}

#[test]
fn output_goes_to_the_file_for_every_command_that_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["rules", "list"],
        &["keys", "sample-logs", "-q"],
        &["completions", "bash"],
        &["man"],
        &[
            "remediate",
            "--user",
            "u",
            "--credential-id",
            "ACCAEXAMPLE1234567890",
        ],
    ];
    for (i, args) in cases.iter().enumerate() {
        let path = dir.path().join(format!("out-{i}"));
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["-o", path.to_str().unwrap()]);
        let o = keytrail(&a);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?} wrote to stdout");
        assert!(
            std::fs::metadata(&path).unwrap().len() > 0,
            "{args:?} wrote nothing"
        );
    }
}
