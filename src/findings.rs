//! Findings: what a rule's result rows become, with a stable JSON schema (version 1).

use serde::{Deserialize, Serialize};

use crate::pipeline::Summary;
use crate::rules::Severity;

/// The findings schema version; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// Evidence event ids listed per finding; `evidence_count` has the full number.
pub const MAX_EVIDENCE_IDS: usize = 100;

/// One rule result row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable id: SHA-256 prefix of the rule id and the sorted evidence ids listed.
    pub finding_id: String,
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    pub mitre: Vec<String>,
    /// eventIDs of the CloudTrail events behind the finding (the latest 100 when there are more).
    pub evidence_event_ids: Vec<String>,
    pub evidence_count: u64,
    /// The rule's other result columns, by name.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The `--format json` document for `scan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanReport {
    pub schema_version: u32,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

/// Computes the stable finding id.
pub fn finding_id<S: AsRef<str>>(rule_id: &str, evidence: &[S]) -> String {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = evidence.iter().map(AsRef::as_ref).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    for id in ids {
        h.update([0u8]);
        h.update(id.as_bytes());
    }
    h.finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}
