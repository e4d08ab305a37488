//! Detection rules: SQL files with a metadata header, run over the `events` table.
//!
//! A rule file starts with `-- key: value` lines (`id`, `title`, `severity`,
//! `description`, optional `mitre`), followed by one SQL query. The built-in rules in
//! `queries/` are compiled into the binary; `--queries DIR` adds more.

pub mod engine;
pub mod lint;

use std::path::Path;

use serde::{Deserialize, Serialize};

/// How bad a finding is, in increasing order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Parses a header value (`info`, `low`, `medium`, `high`, `critical`).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A parsed rule file.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    pub mitre: Vec<String>,
    pub sql: String,
    /// Where it came from: `built-in` or a file path.
    pub origin: String,
}

/// Why a rule file is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("missing header line `-- {0}:`")]
    MissingField(&'static str),
    #[error("severity {0:?} is not one of info, low, medium, high, critical")]
    BadSeverity(String),
    #[error("id {0:?} must be lowercase letters, digits, '_' or '-'")]
    BadId(String),
    #[error("no SQL after the header")]
    NoSql,
    #[error("cannot read: {0}")]
    Io(String),
}

/// The built-in rules, compiled in from `queries/`.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "long_term_key_created.sql",
        include_str!("../../queries/long_term_key_created.sql"),
    ),
    (
        "key_without_short_expiry.sql",
        include_str!("../../queries/key_without_short_expiry.sql"),
    ),
    (
        "key_creation_denied.sql",
        include_str!("../../queries/key_creation_denied.sql"),
    ),
    (
        "console_key_flow.sql",
        include_str!("../../queries/console_key_flow.sql"),
    ),
    (
        "long_term_key_use.sql",
        include_str!("../../queries/long_term_key_use.sql"),
    ),
    (
        "short_term_key_use.sql",
        include_str!("../../queries/short_term_key_use.sql"),
    ),
    (
        "key_used_after_revocation.sql",
        include_str!("../../queries/key_used_after_revocation.sql"),
    ),
    (
        "credential_change_service_unknown.sql",
        include_str!("../../queries/credential_change_service_unknown.sql"),
    ),
];

/// Parses a rule file's text.
pub fn parse_rule(text: &str, origin: &str) -> Result<Rule, RuleError> {
    let (mut id, mut title, mut sev, mut desc, mut mitre) = (None, None, None, None, Vec::new());
    let mut sql = String::new();
    let mut in_header = true;
    for line in text.lines() {
        let t = line.trim();
        if in_header {
            if let Some(rest) = t.strip_prefix("--") {
                if let Some((k, v)) = rest.split_once(':') {
                    let v = v.trim().to_string();
                    match k.trim().to_ascii_lowercase().as_str() {
                        "id" => id = Some(v),
                        "title" => title = Some(v),
                        "severity" => sev = Some(v),
                        "description" => desc = Some(v),
                        "mitre" => {
                            mitre = v
                                .split(',')
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .collect()
                        }
                        _ => {}
                    }
                }
                continue;
            }
            if t.is_empty() {
                continue;
            }
            in_header = false;
        }
        sql.push_str(line);
        sql.push('\n');
    }
    let id = id.ok_or(RuleError::MissingField("id"))?;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(RuleError::BadId(id));
    }
    let sev = sev.ok_or(RuleError::MissingField("severity"))?;
    let severity = Severity::parse(&sev).ok_or(RuleError::BadSeverity(sev))?;
    let sql = sql.trim().trim_end_matches(';').trim().to_string();
    if sql.is_empty() {
        return Err(RuleError::NoSql);
    }
    Ok(Rule {
        id,
        title: title.ok_or(RuleError::MissingField("title"))?,
        severity,
        description: desc.ok_or(RuleError::MissingField("description"))?,
        mitre,
        sql,
        origin: origin.to_string(),
    })
}

/// The built-in rules, parsed.
pub fn builtin_rules() -> Vec<Rule> {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            parse_rule(text, &format!("built-in:{name}"))
                .expect("built-in rules are linted by tests")
        })
        .collect()
}

/// Reads every `*.sql` file in `dir` (sorted), each parsed or with its error.
pub fn load_dir(dir: &Path) -> Result<Vec<(String, Result<Rule, RuleError>)>, RuleError> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| RuleError::Io(format!("{}: {e}", dir.display())))?;
    let mut paths: Vec<_> = rd
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            let rule = std::fs::read_to_string(&p)
                .map_err(|e| RuleError::Io(e.to_string()))
                .and_then(|t| parse_rule(&t, &name));
            (name, rule)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_parsed_and_sql_kept() {
        let r = parse_rule("-- id: x_1\n-- title: T\n-- severity: HIGH\n-- description: D\n-- mitre: T1, T2\nSELECT 1;\n", "t").unwrap();
        assert_eq!(
            (r.id.as_str(), r.severity, r.mitre.len(), r.sql.as_str()),
            ("x_1", Severity::High, 2, "SELECT 1")
        );
    }

    #[test]
    fn broken_headers_say_what_is_wrong() {
        assert_eq!(
            parse_rule("SELECT 1", "t").unwrap_err(),
            RuleError::MissingField("id")
        );
        let e = parse_rule(
            "-- id: a\n-- title: t\n-- severity: urgent\n-- description: d\nSELECT 1",
            "t",
        )
        .unwrap_err();
        assert_eq!(e, RuleError::BadSeverity("urgent".into()));
        let e = parse_rule(
            "-- id: a\n-- title: t\n-- severity: low\n-- description: d\n",
            "t",
        )
        .unwrap_err();
        assert_eq!(e, RuleError::NoSql);
    }
}
