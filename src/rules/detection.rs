//! How a rule's result rows become findings: plain SQL (each row is a finding), or a
//! windowed detection declared in the header and run by the native sweep ([`super::sweep`])
//! over the rows the SQL selects.
//!
//! ```text
//! -- window: ${window}                         sliding window, exact at the edges
//! -- group_by: account_id, principal           one sweep per group
//! -- having: COUNT(*) > ${threshold}           or COUNT(DISTINCT aws_region) >= 2
//!
//! -- window: 15m
//! -- group_by: account_id, credential
//! -- sequence: recon, invoke                   values of the `step` column, in this order
//!
//! -- baseline: ${history}                      per-group history of `new_value`
//! -- group_by: account_id, principal
//! -- new_value: source_ip                      fires on a value not used in that history
//! ```

use super::params::parse_duration;

/// The column a sequence rule's SQL names each event's step in.
pub const STEP_COLUMN: &str = "step";

/// What a window counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// Events in the window.
    Count,
    /// Distinct non-null values of a column in the window.
    Distinct(String),
}

/// How a window's count is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Ge,
}

impl Cmp {
    /// True when `n` passes against `threshold`.
    pub fn holds(self, n: u64, threshold: u64) -> bool {
        match self {
            Cmp::Gt => n > threshold,
            Cmp::Ge => n >= threshold,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// A rule's detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// Each result row is a finding.
    Sql,
    /// Fires when a sliding window of one group's events passes `measure cmp threshold`.
    Window {
        window: Window,
        group_by: Vec<String>,
        measure: Measure,
        cmp: Cmp,
        threshold: u64,
    },
    /// Fires when one group's events take the `steps` in order within the window.
    Sequence {
        window: Window,
        group_by: Vec<String>,
        steps: Vec<String>,
    },
    /// Fires on a value of `column` that the group did not use in the `history` before,
    /// once the group has at least `history` of activity.
    NewValue {
        history: Window,
        group_by: Vec<String>,
        column: String,
    },
}

/// A duration as written and in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub text: String,
    pub micros: i64,
}

impl Window {
    /// Parses `30s`, `5m`, `24h`, `7d`, `2w`.
    fn parse(key: &str, v: &str) -> Result<Window, String> {
        let micros = parse_duration(v).ok_or_else(|| {
            format!("`-- {key}: {v}` is not a duration: use 30s, 5m, 24h, 7d or 2w")
        })?;
        Ok(Window {
            text: v.trim().to_string(),
            micros,
        })
    }
}

impl Detection {
    /// Reads the detection header lines (parameters already written in).
    pub fn from_header(h: &[(String, String)]) -> Result<Detection, String> {
        let get = |k: &str| h.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        if h.is_empty() {
            return Ok(Detection::Sql);
        }
        let group_by = match get("group_by") {
            Some(v) => columns(v)?,
            None => {
                return Err(
                    "a windowed rule needs `-- group_by: COLUMN[, COLUMN...]` (one sweep per group)"
                        .into(),
                );
            }
        };
        let only = |allowed: &[&str], kind: &str| -> Result<(), String> {
            match h.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
                Some((k, _)) => Err(format!("`-- {k}:` does not go with {kind}")),
                None => Ok(()),
            }
        };
        if let Some(hist) = get("baseline") {
            only(&["baseline", "group_by", "new_value"], "`-- baseline:`")?;
            let column = get("new_value").ok_or(
                "a baseline rule needs `-- new_value: COLUMN` (the value not seen in the history)",
            )?;
            return Ok(Detection::NewValue {
                history: Window::parse("baseline", hist)?,
                group_by,
                column: one_column(column)?,
            });
        }
        let window = Window::parse(
            "window",
            get("window").ok_or("a windowed rule needs `-- window: DURATION`")?,
        )?;
        if let Some(seq) = get("sequence") {
            only(&["window", "group_by", "sequence"], "`-- sequence:`")?;
            let steps: Vec<String> = seq
                .split(',')
                .map(|s| s.trim().trim_matches('\'').to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if steps.len() < 2 {
                return Err(format!(
                    "`-- sequence: {seq}` needs at least two steps, e.g. `recon, invoke`"
                ));
            }
            return Ok(Detection::Sequence {
                window,
                group_by,
                steps,
            });
        }
        only(&["window", "group_by", "having"], "`-- having:`")?;
        let having = get("having").ok_or(
            "a windowed rule needs `-- having: COUNT(*) > N` or `COUNT(DISTINCT column) >= N` (or `-- sequence:`)",
        )?;
        let (measure, cmp, threshold) = parse_having(having)?;
        Ok(Detection::Window {
            window,
            group_by,
            measure,
            cmp,
            threshold,
        })
    }

    /// The columns the rule's SQL must return for this detection (besides `event_id` and
    /// `event_time`).
    pub fn required_columns(&self) -> Vec<String> {
        match self {
            Detection::Sql => Vec::new(),
            Detection::Window {
                group_by, measure, ..
            } => {
                let mut c = group_by.clone();
                if let Measure::Distinct(d) = measure {
                    c.push(d.clone());
                }
                c
            }
            Detection::Sequence { group_by, .. } => {
                let mut c = group_by.clone();
                c.push(STEP_COLUMN.to_string());
                c
            }
            Detection::NewValue {
                group_by, column, ..
            } => {
                let mut c = group_by.clone();
                c.push(column.clone());
                c
            }
        }
    }

    /// The detection in one line, for `rules list` and findings.
    pub fn describe(&self) -> String {
        match self {
            Detection::Sql => "sql".into(),
            Detection::Window {
                window,
                measure,
                cmp,
                threshold,
                ..
            } => {
                let m = match measure {
                    Measure::Count => "COUNT(*)".to_string(),
                    Measure::Distinct(c) => format!("COUNT(DISTINCT {c})"),
                };
                format!("{m} {} {threshold} within {}", cmp.as_str(), window.text)
            }
            Detection::Sequence { window, steps, .. } => {
                format!("{} within {}", steps.join(" then "), window.text)
            }
            Detection::NewValue {
                history, column, ..
            } => format!("{column} not used in the previous {}", history.text),
        }
    }
}

/// A comma-separated list of column names.
fn columns(v: &str) -> Result<Vec<String>, String> {
    let cols: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
    if cols.iter().any(|c| !is_column(c)) {
        return Err(format!(
            "`-- group_by: {v}` must list result column names separated by commas"
        ));
    }
    Ok(cols)
}

/// One column name.
fn one_column(v: &str) -> Result<String, String> {
    let c = v.trim();
    if !is_column(c) {
        return Err(format!("{v:?} is not a column name"));
    }
    Ok(c.to_string())
}

/// True for a plain SQL identifier.
pub(super) fn is_column(c: &str) -> bool {
    !c.is_empty()
        && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !c.starts_with(|x: char| x.is_ascii_digit())
}

/// Parses `COUNT(*) > N` or `COUNT(DISTINCT col) >= N`.
fn parse_having(v: &str) -> Result<(Measure, Cmp, u64), String> {
    let bad = || {
        format!(
            "`-- having: {v}` must read `COUNT(*) > N`, `COUNT(*) >= N` or `COUNT(DISTINCT column) >= N`"
        )
    };
    let s = v.trim();
    let upper = s.to_ascii_uppercase();
    let rest = upper.strip_prefix("COUNT").ok_or_else(bad)?.trim_start();
    let rest = rest.strip_prefix('(').ok_or_else(bad)?;
    let close = rest.find(')').ok_or_else(bad)?;
    let inner = rest[..close].trim();
    let measure = if inner == "*" {
        Measure::Count
    } else if inner.starts_with("DISTINCT ") {
        // Keep the column's own spelling: the original text between DISTINCT and `)`
        // (upper-casing ASCII keeps byte offsets).
        let open = upper.find('(').ok_or_else(bad)?;
        let d = open + 1 + upper[open + 1..].find("DISTINCT").ok_or_else(bad)?;
        let end = open + 1 + upper[open + 1..].find(')').ok_or_else(bad)?;
        Measure::Distinct(one_column(&s[d + "DISTINCT".len()..end])?)
    } else {
        return Err(bad());
    };
    let tail = rest[close + 1..].trim();
    let (cmp, num) = if let Some(n) = tail.strip_prefix(">=") {
        (Cmp::Ge, n)
    } else if let Some(n) = tail.strip_prefix('>') {
        (Cmp::Gt, n)
    } else {
        return Err(bad());
    };
    let threshold = num.trim().parse::<u64>().map_err(|_| bad())?;
    Ok((measure, cmp, threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_count_window_is_read_from_the_header() {
        let d = Detection::from_header(&h(&[
            ("window", "5m"),
            ("group_by", "account_id, principal"),
            ("having", "COUNT(*) > 100"),
        ]))
        .unwrap();
        match &d {
            Detection::Window {
                window,
                group_by,
                measure,
                cmp,
                threshold,
            } => {
                assert_eq!(window.micros, 300_000_000);
                assert_eq!(group_by, &["account_id", "principal"]);
                assert_eq!((measure, *cmp, *threshold), (&Measure::Count, Cmp::Gt, 100));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.describe(), "COUNT(*) > 100 within 5m");
    }

    #[test]
    fn distinct_sequence_and_baseline_detections_parse() {
        let d = Detection::from_header(&h(&[
            ("window", "30m"),
            ("group_by", "principal"),
            ("having", "count(distinct aws_region) >= 2"),
        ]))
        .unwrap();
        assert!(
            matches!(d, Detection::Window { measure: Measure::Distinct(ref c), cmp: Cmp::Ge, threshold: 2, .. } if c == "aws_region")
        );
        let d = Detection::from_header(&h(&[
            ("window", "15m"),
            ("group_by", "credential"),
            ("sequence", "recon, invoke"),
        ]))
        .unwrap();
        assert!(
            matches!(d, Detection::Sequence { ref steps, .. } if steps == &["recon", "invoke"])
        );
        let d = Detection::from_header(&h(&[
            ("baseline", "7d"),
            ("group_by", "principal"),
            ("new_value", "source_ip"),
        ]))
        .unwrap();
        assert!(matches!(d, Detection::NewValue { ref column, .. } if column == "source_ip"));
    }

    #[test]
    fn broken_detection_headers_say_what_to_write() {
        let e = Detection::from_header(&h(&[("window", "5m"), ("having", "COUNT(*) > 1")]))
            .unwrap_err();
        assert!(e.contains("group_by"), "{e}");
        let e = Detection::from_header(&h(&[
            ("window", "five minutes"),
            ("group_by", "p"),
            ("having", "COUNT(*) > 1"),
        ]))
        .unwrap_err();
        assert!(e.contains("not a duration"), "{e}");
        let e = Detection::from_header(&h(&[
            ("window", "5m"),
            ("group_by", "p"),
            ("having", "SUM(x) > 1"),
        ]))
        .unwrap_err();
        assert!(e.contains("COUNT(*)"), "{e}");
        let e = Detection::from_header(&h(&[
            ("window", "5m"),
            ("group_by", "p"),
            ("sequence", "recon"),
        ]))
        .unwrap_err();
        assert!(e.contains("two steps"), "{e}");
        let e = Detection::from_header(&h(&[
            ("baseline", "7d"),
            ("group_by", "p"),
            ("new_value", "ip"),
            ("having", "COUNT(*) > 1"),
        ]))
        .unwrap_err();
        assert!(e.contains("does not go with"), "{e}");
    }
}
