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
    pub evidence_event_ids: EventIds,
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

/// A list of event ids in one buffer: a finding lists up to [`MAX_EVIDENCE_IDS`], and a
/// string each (with its allocation) made the ids most of a finding's memory. Serialized as
/// a JSON array of strings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EventIds {
    /// The ids, one after the other.
    text: String,
    /// Where each id ends in `text`.
    ends: Vec<u32>,
}

impl EventIds {
    /// Appends an id.
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        let end = u32::try_from(self.text.len()).expect("event ids of a finding fit in 4 GiB");
        self.ends.push(end);
    }

    /// How many ids there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there is no id.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The id at `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..end])
    }

    /// The first id.
    pub fn first(&self) -> Option<&str> {
        self.get(0)
    }

    /// The ids in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { ids: self, next: 0 }
    }

    /// True when `id` is one of the ids.
    pub fn contains(&self, id: &str) -> bool {
        self.iter().any(|x| x == id)
    }

    /// The ids joined with `sep`.
    pub fn join(&self, sep: &str) -> String {
        self.iter().collect::<Vec<_>>().join(sep)
    }

    /// Frees the spare capacity left from building.
    fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// The ids of an [`EventIds`], in order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    ids: &'a EventIds,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let id = self.ids.get(self.next)?;
        self.next += 1;
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.ids.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a EventIds {
    type Item = &'a str;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<S: AsRef<str>> FromIterator<S> for EventIds {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> EventIds {
        let mut ids = EventIds::default();
        for id in iter {
            ids.push(id.as_ref());
        }
        ids.shrink_to_fit();
        ids
    }
}

impl std::ops::Index<usize> for EventIds {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        self.get(i)
            .unwrap_or_else(|| panic!("event id {i} of {}", self.len()))
    }
}

impl std::fmt::Debug for EventIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for EventIds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for EventIds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EventIds, D::Error> {
        Ok(Vec::<String>::deserialize(d)?.into_iter().collect())
    }
}

/// Computes the stable finding id.
pub fn finding_id<'a>(rule_id: &str, evidence: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = evidence.into_iter().collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_keep_order_and_serialize_as_a_list_of_strings() {
        let ids: EventIds = ["a-1", "", "bb-22"].into_iter().collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["a-1", "", "bb-22"]);
        assert_eq!((&ids[0], &ids[1], &ids[2]), ("a-1", "", "bb-22"));
        assert_eq!(ids.get(3), None);
        assert!(ids.contains("bb-22") && !ids.contains("bb"));
        assert_eq!(ids.join(" "), "a-1  bb-22");
        let json = serde_json::to_string(&ids).unwrap();
        assert_eq!(json, r#"["a-1","","bb-22"]"#);
        assert_eq!(serde_json::from_str::<EventIds>(&json).unwrap(), ids);
        assert_eq!(format!("{ids:?}"), r#"["a-1", "", "bb-22"]"#);
        assert!(EventIds::default().is_empty());
    }
}
