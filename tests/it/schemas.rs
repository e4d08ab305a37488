//! The JSON Schemas in `schemas/` hold for real output: `scan --format json` documents,
//! `scan --format ndjson` findings and `events --format ndjson` rows, from the bundled
//! sample logs and the real datasets; and they reject what breaks the contract.

use boon::{Compiler, SchemaIndex, Schemas};
use serde_json::Value;

use crate::common::{keytrail, root, shared_datasets, stderr, stdout};

/// The three schemas, compiled (format assertions on: `date-time` is checked).
struct Contract {
    schemas: Schemas,
    document: SchemaIndex,
    finding: SchemaIndex,
    event: SchemaIndex,
}

impl Contract {
    fn load() -> Contract {
        let mut schemas = Schemas::new();
        let mut c = Compiler::new();
        c.enable_format_assertions();
        let mut compile = |name: &str| {
            let path = root().join("schemas").join(name);
            c.compile(path.to_str().unwrap(), &mut schemas)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"))
        };
        let document = compile("findings.schema.json");
        let finding = compile("finding.schema.json");
        let event = compile("event.schema.json");
        Contract {
            schemas,
            document,
            finding,
            event,
        }
    }

    /// Validates, failing the test with the validator's explanation.
    fn check(&self, idx: SchemaIndex, v: &Value, what: &str) {
        if let Err(e) = self.schemas.validate(v, idx) {
            panic!("{what} does not match its schema: {e:#}\n{v}");
        }
    }

    /// True when `v` is valid.
    fn valid(&self, idx: SchemaIndex, v: &Value) -> bool {
        self.schemas.validate(v, idx).is_ok()
    }
}

/// The inputs to check: sample-logs, plus the real datasets when present.
fn inputs() -> Vec<String> {
    let mut v = vec!["sample-logs".to_string()];
    if let Some(d) = shared_datasets() {
        v.push(d.to_str().unwrap().to_string());
    }
    v
}

/// Runs keytrail and returns stdout, requiring exit code 0 or 3 (partial is fine here).
fn run(args: &[&str]) -> String {
    let o = keytrail(args);
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{args:?}: {}",
        stderr(&o)
    );
    stdout(&o)
}

#[test]
fn scan_json_and_ndjson_match_the_findings_schemas() {
    let c = Contract::load();
    let mut findings = 0;
    for input in inputs() {
        let doc: Value = serde_json::from_str(&run(&["scan", &input, "-f", "json", "-q"])).unwrap();
        c.check(c.document, &doc, &format!("scan {input} --format json"));
        for line in run(&["scan", &input, "-f", "ndjson", "-q"]).lines() {
            let f: Value = serde_json::from_str(line).unwrap();
            c.check(c.finding, &f, &format!("a finding of scan {input}"));
            findings += 1;
        }
    }
    assert!(findings >= 20, "checked {findings} findings");
}

#[test]
fn events_ndjson_rows_match_the_event_schema() {
    let c = Contract::load();
    let mut rows = 0;
    for input in inputs() {
        for line in run(&["events", &input, "--all-events", "-f", "ndjson", "-q"]).lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            c.check(c.event, &e, &format!("an event of {input}"));
            rows += 1;
        }
    }
    assert!(rows >= 177, "checked {rows} rows");
}

#[test]
fn the_schemas_reject_what_breaks_the_contract() {
    let c = Contract::load();
    let doc: Value =
        serde_json::from_str(&run(&["scan", "sample-logs", "-f", "json", "-q"])).unwrap();
    let f = doc["findings"][0].clone();
    assert!(c.valid(c.finding, &f));
    let mut extra = f.clone();
    extra["surprise"] = Value::Bool(true);
    assert!(!c.valid(c.finding, &extra), "an unknown field");
    let mut sev = f.clone();
    sev["severity"] = Value::String("urgent".into());
    assert!(!c.valid(c.finding, &sev), "an unknown severity");
    let mut missing = f;
    missing.as_object_mut().unwrap().remove("evidence_count");
    assert!(!c.valid(c.finding, &missing), "a missing field");
    let mut version = doc.clone();
    version["schema_version"] = Value::from(2);
    assert!(!c.valid(c.document, &version), "another schema version");
    let mut counts = doc;
    counts["summary"]["bytes_skipped"] = Value::from(5);
    assert!(c.valid(c.document, &counts), "a new count is allowed");
    counts["summary"]["bytes_skipped"] = Value::from(-5);
    assert!(!c.valid(c.document, &counts), "a negative count is not");
    let row: Value = serde_json::from_str(
        run(&["events", "sample-logs", "-f", "ndjson", "-q"])
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let mut bad_time = row.clone();
    bad_time["event_time"] = Value::String("yesterday".into());
    assert!(
        !c.valid(c.event, &bad_time),
        "event_time must be a date-time"
    );
    let mut bad_activity = row;
    bad_activity["activity"] = Value::String("key_stolen".into());
    assert!(!c.valid(c.event, &bad_activity));
}
