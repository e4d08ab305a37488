//! Hostile and corrupt input (issue 13): one bad record costs one record in every container,
//! plain or gzipped; a corrupt gzip member costs that member; deep nesting is skipped without
//! a crash; each case is counted in the summary and exits 3.

use std::path::Path;
use std::process::Output;

use keytrail::pipeline::Summary;
use serde::Deserialize;

use crate::common::{gzip, keytrail, stderr};

/// `scan --format json` output, parsed strictly.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    #[allow(dead_code)]
    schema_version: u32,
    #[allow(dead_code)]
    findings: Vec<serde_json::Value>,
    summary: Summary,
}

/// A Bedrock call with a long-term key (relevant, so it is parsed and kept), with an id.
fn record(id: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/BedrockAPIKey-ab12","accountId":"111122223333","userName":"BedrockAPIKey-ab12"}},"eventTime":"2026-11-18T10:00:00Z","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.5","userAgent":"curl/8.5.0","requestParameters":{{"modelId":"amazon.nova-pro-v1:0"}},"responseElements":null,"additionalEventData":{{"callWithBearerToken":true}},"resources":[{{"accountId":"111122223333","type":"AWS::Bedrock::Model","ARN":"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"}}],"eventID":"{id}","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#
    )
}

/// The same event as an element of a LookupEvents page.
fn lookup_element(id: &str) -> String {
    let inner = serde_json::to_string(&record(id)).unwrap();
    format!(
        r#"{{"EventId":"{id}","EventName":"InvokeModel","ReadOnly":"true","EventTime":"2026-11-18T10:00:00Z","EventSource":"bedrock.amazonaws.com","Username":"BedrockAPIKey-ab12","Resources":[{{"ResourceType":"AWS::Bedrock::Model","ResourceName":"amazon.nova-pro-v1:0"}}],"CloudTrailEvent":{inner}}}"#
    )
}

/// A named way to damage one record's text.
type Corruption = (&'static str, fn(&str) -> String);

/// The 13 corruptions of the issue's matrix, applied to one element's text.
fn corruptions() -> Vec<Corruption> {
    vec![
        ("unterminated-string", |r| {
            r.replacen("\"InvokeModel\"", "\"InvokeModel", 1)
        }),
        ("missing-close-brace", |r| r[..r.len() - 1].to_string()),
        ("extra-close-brace", |r| format!("{r}}}")),
        ("truncated", |r| r[..r.len() / 2].to_string()),
        ("stray-quote", |r| r.replacen("Invoke", "Inv\"oke", 1)),
        ("unbalanced-bracket", |r| r.replacen("\":[{", "\":[[{", 1)),
        ("extra-close-bracket", |r| r.replacen("}]", "}]]", 1)),
        ("number", |_| "12345".to_string()),
        ("string", |_| "\"string\"".to_string()),
        ("null", |_| "null".to_string()),
        ("missing-comma", |r| {
            r.replacen("\"InvokeModel\"", "\"InvokeModel\" \"x\"", 1)
        }),
        ("binary-garbage", |r| {
            r.replacen("\"InvokeModel\"", "\"InvokeModel\"\u{1}\u{7f}\u{fe}", 1)
        }),
        ("raw-newline-in-string", |r| {
            r.replacen("InvokeModel", "Invoke\nModel", 1)
        }),
    ]
}

/// The containers: the pieces of a file (prefix + first element, separator + each next one,
/// the suffix with the last), so that each piece can also be its own gzip member.
fn containers(elements: &[String]) -> Vec<(&'static str, Vec<String>)> {
    let framed = |open: &str, sep: &str, close: &str| {
        let mut parts: Vec<String> = elements
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{}{e}", if i == 0 { open } else { sep }))
            .collect();
        parts.last_mut().unwrap().push_str(close);
        parts
    };
    vec![
        ("records", framed("{\"Records\":[", ",", "]}")),
        ("bare-array", framed("[", ",\n", "]\n")),
        ("ndjson", framed("", "\n", "\n")),
    ]
}

/// Runs `scan --format json` on one file.
fn scan(path: &Path) -> (Output, Report) {
    let o = keytrail(&["scan", path.to_str().unwrap(), "--format", "json"]);
    let report: Report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{}: {e}\nstderr:\n{}", path.display(), stderr(&o)));
    (o, report)
}

#[test]
fn one_bad_record_costs_one_record_in_every_container_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (kind, corrupt) in corruptions() {
        for events_page in [false, true] {
            let elements: Vec<String> = (0..21)
                .map(|i| {
                    let id = format!("{kind}-{i}");
                    let e = if events_page {
                        lookup_element(&id)
                    } else {
                        record(&id)
                    };
                    if i == 10 { corrupt(&e) } else { e }
                })
                .collect();
            let mut shapes = containers(&elements);
            if events_page {
                // LookupEvents pages: the elements are wrapped events, in an `Events` array.
                let mut parts = shapes.remove(0).1;
                parts[0] = parts[0].replacen("{\"Records\":[", "{\"Events\":[", 1);
                let last = parts.last_mut().unwrap();
                *last = last.replace("]}", "],\"NextToken\":\"next-page\"}");
                shapes = vec![("events-page", parts)];
            }
            for (container, parts) in shapes {
                let plain = parts.concat();
                let variants = [
                    ("json", plain.clone().into_bytes()),
                    ("one-member.json.gz", gzip(plain.as_bytes())),
                    (
                        "member-per-record.json.gz",
                        parts.iter().flat_map(|p| gzip(p.as_bytes())).collect(),
                    ),
                ];
                for (suffix, bytes) in variants {
                    let path = dir.path().join(format!("{kind}.{container}.{suffix}"));
                    std::fs::write(&path, bytes).unwrap();
                    files.push((kind, path));
                }
            }
        }
    }
    assert_eq!(files.len(), 13 * 4 * 3);
    let failures: Vec<String> = std::thread::scope(|s| {
        let chunks: Vec<_> = files.chunks(files.len().div_ceil(2)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for (kind, path) in chunk {
                        let (o, r) = scan(path);
                        let s = &r.summary;
                        let name = path.file_name().unwrap().to_string_lossy();
                        let got = (o.status.code(), s.events_kept, s.records_unreadable);
                        // 20 good events kept, the bad one counted, exit code 3.
                        // Read: the 20, plus the bad one when it was delimited as an object.
                        if got != (Some(3), 20, 1) || !(20..=21).contains(&s.events_read) {
                            bad.push(format!(
                                "{name}: exit {:?}, {} kept, {} read, {} unreadable\n{}",
                                got.0,
                                s.events_kept,
                                s.events_read,
                                s.records_unreadable,
                                stderr(&o)
                            ));
                        }
                        // Structural damage is passed over in bytes; non-objects and the
                        // missing comma are delimited, so nothing is passed over.
                        let delimited = ["number", "string", "null", "missing-comma"];
                        if (s.bytes_skipped > 0) == delimited.contains(kind) {
                            bad.push(format!("{name}: {} bytes skipped", s.bytes_skipped));
                        }
                        if s.inputs_skipped.len() != 1
                            || !s.inputs_skipped[0]
                                .reason
                                .contains("1 unreadable record(s)")
                        {
                            bad.push(format!("{name}: inputs_skipped {:?}", s.inputs_skipped));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} files wrong:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn a_hundred_thousand_levels_of_nesting_exit_3_and_the_other_inputs_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, data: &[u8]| std::fs::write(dir.path().join(name), data).unwrap();
    let deep = format!("{}{{}}{}", "[".repeat(100_000), "]".repeat(100_000));
    let nested = record("deep-1").replace(
        r#""modelId":"amazon.nova-pro-v1:0""#,
        &format!(r#""modelId":"amazon.nova-pro-v1:0","x":{deep}"#),
    );
    w(
        "a-deep.json",
        format!(
            r#"{{"Records":[{},{nested},{}]}}"#,
            record("a-1"),
            record("a-2")
        )
        .as_bytes(),
    );
    // The same depth inside a LookupEvents event's JSON string.
    let inner = serde_json::to_string(&nested).unwrap();
    w(
        "b-deep-lookup.json",
        format!(
            r#"{{"Events":[{},{{"EventId":"deep-2","CloudTrailEvent":{inner}}}]}}"#,
            lookup_element("b-1")
        )
        .as_bytes(),
    );
    // Unclosed: a hundred thousand `[` and no end, then a good line.
    w(
        "c-unclosed.ndjson",
        format!(
            "{}\n{{\"x\":{}\n{}\n",
            record("c-1"),
            "[".repeat(100_000),
            record("c-2")
        )
        .as_bytes(),
    );
    w(
        "d-good.json.gz",
        &gzip(format!(r#"{{"Records":[{}]}}"#, record("d-1")).as_bytes()),
    );
    let o = keytrail(&["scan", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let r: Report = serde_json::from_slice(&o.stdout).unwrap();
    let s = &r.summary;
    assert_eq!(
        (s.inputs_read, s.events_kept, s.records_unreadable),
        (4, 6, 3),
        "{}",
        stderr(&o)
    );
    let err = stderr(&o);
    for f in ["a-deep.json", "b-deep-lookup.json", "c-unclosed.ndjson"] {
        assert!(
            err.lines().any(|l| l.contains(f) && l.contains("skipped")),
            "no line for {f}:\n{err}"
        );
    }
    assert!(err.contains("nested deeper than 512 levels"), "{err}");
}

#[test]
fn a_corrupt_gzip_member_costs_only_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..21)
        .map(|i| format!("{}\n", record(&format!("gz-{i}"))))
        .collect();
    let mut members: Vec<Vec<u8>> = lines.iter().map(|l| gzip(l.as_bytes())).collect();
    // Member 11: its deflate data damaged.
    for b in &mut members[10][12..20] {
        *b ^= 0xa5;
    }
    std::fs::write(
        dir.path().join("corrupt-member.ndjson.gz"),
        members.concat(),
    )
    .unwrap();
    let (o, r) = scan(&dir.path().join("corrupt-member.ndjson.gz"));
    let s = &r.summary;
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(s.events_kept, 20, "{}", stderr(&o));
    assert!(s.records_unreadable >= 1 && s.bytes_skipped > 0, "{s:?}");
    assert!(stderr(&o).contains("gzip member 11"), "{}", stderr(&o));

    // Garbage after the last member is reported; zero padding is not.
    let mut tail = gzip(lines[0].as_bytes());
    tail.extend_from_slice(b"not gzip at all");
    std::fs::write(dir.path().join("tail.ndjson.gz"), &tail).unwrap();
    let (o, r) = scan(&dir.path().join("tail.ndjson.gz"));
    assert_eq!(
        (o.status.code(), r.summary.events_kept),
        (Some(3), 1),
        "{}",
        stderr(&o)
    );
    let mut padded = gzip(lines[0].as_bytes());
    padded.extend_from_slice(&[0u8; 1024]);
    std::fs::write(dir.path().join("padded.ndjson.gz"), &padded).unwrap();
    let (o, r) = scan(&dir.path().join("padded.ndjson.gz"));
    assert_eq!(
        (o.status.code(), r.summary.events_kept),
        (Some(0), 1),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_clean_file_exits_0_with_nothing_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean.json");
    let recs: Vec<String> = (0..5).map(|i| record(&format!("clean-{i}"))).collect();
    std::fs::write(&path, format!("{{\"Records\":[{}]}}", recs.join(","))).unwrap();
    let (o, r) = scan(&path);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = &r.summary;
    assert_eq!(
        (
            s.events_kept,
            s.records_unreadable,
            s.bytes_skipped,
            s.inputs_skipped.len()
        ),
        (5, 0, 0, 0)
    );
}

#[test]
fn nesting_just_under_the_limit_is_read_and_just_over_is_skipped() {
    // A policy call whose request nests the Bedrock action `levels` arrays deep: the
    // normalizer walks all of it (looking for bearer-token controls) without overflowing.
    let policy = |levels: usize| {
        record("policy").replace(
            r#""eventName":"InvokeModel""#,
            r#""eventName":"PutUserPolicy""#,
        )
        .replace(
            r#""requestParameters":{"modelId":"amazon.nova-pro-v1:0"}"#,
            &format!(
                r#""requestParameters":{{"userName":"u","x":{}"bedrock:CallWithBearerToken"{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            ),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    // The record is level 1, requestParameters level 2: 510 arrays make 512 levels.
    let under = dir.path().join("under.json");
    std::fs::write(&under, format!(r#"{{"Records":[{}]}}"#, policy(510))).unwrap();
    let (o, r) = scan(&under);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        (r.summary.events_kept, r.summary.records_unreadable),
        (1, 0)
    );
    let over = dir.path().join("over.json");
    let good = record("good");
    std::fs::write(&over, format!(r#"{{"Records":[{},{good}]}}"#, policy(511))).unwrap();
    let (o, r) = scan(&over);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nested deeper than 512 levels"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        (r.summary.events_kept, r.summary.records_unreadable),
        (1, 1)
    );
}
