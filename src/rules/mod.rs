//! Detection rules: SQL files with a metadata header, run over the `events` table.
//!
//! A rule file starts with `-- key: value` lines (`id`, `title`, `severity`,
//! `description`, optional `mitre`, any number of `param`), followed by one SQL query. A
//! rule whose header also has `window`/`group_by`/`having`, `sequence` or `baseline`/
//! `new_value` is windowed: its SQL selects candidate events and a native sweep
//! ([`sweep`]) decides which of them fire (see [`detection`]). The built-in rules in
//! `queries/` are compiled into the binary; `--queries DIR` adds more. Each rule may carry
//! test cases in a `<file stem>.test.json` beside it ([`cases`]).

pub mod cases;
pub mod detection;
pub mod engine;
pub mod evidence;
pub mod lint;
pub mod params;
pub mod policy;
pub mod sweep;
pub mod windowed;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use detection::Detection;
pub use params::{Overrides, Param};

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

/// A parsed rule file: its header, parameters and SQL, before parameter values are set.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    pub mitre: Vec<String>,
    /// The SQL as written, with `${param}` references.
    pub sql: String,
    /// Declared parameters, in header order.
    pub params: Vec<Param>,
    /// The detection header lines (`window`, `group_by`, ...), as written.
    pub detection: Vec<(String, String)>,
    /// The `-- evidence:` header (`CTE BY COLUMN...`), as written.
    pub evidence: Option<String>,
    /// Where it came from: `built-in:FILE` or a file path.
    pub origin: String,
}

/// A rule with its parameter values set: the SQL to run and how its rows become findings.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    /// The SQL with parameter values written in.
    pub sql: String,
    pub detection: Detection,
    /// Where the evidence of a SQL rule's rows is, when its header names it.
    pub evidence: Option<evidence::EvidenceSource>,
    /// Every parameter with the value in use (default or override).
    pub values: Vec<(String, String)>,
}

impl std::ops::Deref for CompiledRule {
    type Target = Rule;
    fn deref(&self) -> &Rule {
        &self.rule
    }
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
    #[error("{0}")]
    Param(String),
    #[error("{0}")]
    Detection(String),
    #[error("{0}")]
    Evidence(String),
}

/// The header keys that describe a windowed detection.
pub const DETECTION_KEYS: &[&str] = &[
    "window",
    "group_by",
    "having",
    "sequence",
    "baseline",
    "new_value",
];

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
    (
        "phantom_user_credentials_added.sql",
        include_str!("../../queries/phantom_user_credentials_added.sql"),
    ),
    (
        "phantom_user_activity_outside_bedrock.sql",
        include_str!("../../queries/phantom_user_activity_outside_bedrock.sql"),
    ),
    (
        "bearer_key_destructive_action.sql",
        include_str!("../../queries/bearer_key_destructive_action.sql"),
    ),
    (
        "model_access_enabled.sql",
        include_str!("../../queries/model_access_enabled.sql"),
    ),
    (
        "invocation_logging_changed.sql",
        include_str!("../../queries/invocation_logging_changed.sql"),
    ),
    (
        "guardrail_weakened.sql",
        include_str!("../../queries/guardrail_weakened.sql"),
    ),
    (
        "recon_then_invoke.sql",
        include_str!("../../queries/recon_then_invoke.sql"),
    ),
    (
        "model_probing_failures.sql",
        include_str!("../../queries/model_probing_failures.sql"),
    ),
    (
        "key_multi_region.sql",
        include_str!("../../queries/key_multi_region.sql"),
    ),
    (
        "key_invocation_spike.sql",
        include_str!("../../queries/key_invocation_spike.sql"),
    ),
    (
        "scripted_bearer_client.sql",
        include_str!("../../queries/scripted_bearer_client.sql"),
    ),
    (
        "llmjacking_enablement.sql",
        include_str!("../../queries/llmjacking_enablement.sql"),
    ),
    (
        "revocation_misses_mantle.sql",
        include_str!("../../queries/revocation_misses_mantle.sql"),
    ),
    (
        "bearer_key_controls_changed.sql",
        include_str!("../../queries/bearer_key_controls_changed.sql"),
    ),
    (
        "key_new_source.sql",
        include_str!("../../queries/key_new_source.sql"),
    ),
];

/// The built-in rules' test cases (`queries/*.test.json`), by rule file name.
pub const BUILTIN_CASES: &[(&str, &str)] = &[
    (
        "long_term_key_created.test.json",
        include_str!("../../queries/long_term_key_created.test.json"),
    ),
    (
        "key_without_short_expiry.test.json",
        include_str!("../../queries/key_without_short_expiry.test.json"),
    ),
    (
        "key_creation_denied.test.json",
        include_str!("../../queries/key_creation_denied.test.json"),
    ),
    (
        "console_key_flow.test.json",
        include_str!("../../queries/console_key_flow.test.json"),
    ),
    (
        "long_term_key_use.test.json",
        include_str!("../../queries/long_term_key_use.test.json"),
    ),
    (
        "short_term_key_use.test.json",
        include_str!("../../queries/short_term_key_use.test.json"),
    ),
    (
        "key_used_after_revocation.test.json",
        include_str!("../../queries/key_used_after_revocation.test.json"),
    ),
    (
        "credential_change_service_unknown.test.json",
        include_str!("../../queries/credential_change_service_unknown.test.json"),
    ),
    (
        "phantom_user_credentials_added.test.json",
        include_str!("../../queries/phantom_user_credentials_added.test.json"),
    ),
    (
        "phantom_user_activity_outside_bedrock.test.json",
        include_str!("../../queries/phantom_user_activity_outside_bedrock.test.json"),
    ),
    (
        "bearer_key_destructive_action.test.json",
        include_str!("../../queries/bearer_key_destructive_action.test.json"),
    ),
    (
        "model_access_enabled.test.json",
        include_str!("../../queries/model_access_enabled.test.json"),
    ),
    (
        "invocation_logging_changed.test.json",
        include_str!("../../queries/invocation_logging_changed.test.json"),
    ),
    (
        "guardrail_weakened.test.json",
        include_str!("../../queries/guardrail_weakened.test.json"),
    ),
    (
        "recon_then_invoke.test.json",
        include_str!("../../queries/recon_then_invoke.test.json"),
    ),
    (
        "model_probing_failures.test.json",
        include_str!("../../queries/model_probing_failures.test.json"),
    ),
    (
        "key_multi_region.test.json",
        include_str!("../../queries/key_multi_region.test.json"),
    ),
    (
        "key_invocation_spike.test.json",
        include_str!("../../queries/key_invocation_spike.test.json"),
    ),
    (
        "scripted_bearer_client.test.json",
        include_str!("../../queries/scripted_bearer_client.test.json"),
    ),
    (
        "llmjacking_enablement.test.json",
        include_str!("../../queries/llmjacking_enablement.test.json"),
    ),
    (
        "revocation_misses_mantle.test.json",
        include_str!("../../queries/revocation_misses_mantle.test.json"),
    ),
    (
        "bearer_key_controls_changed.test.json",
        include_str!("../../queries/bearer_key_controls_changed.test.json"),
    ),
    (
        "key_new_source.test.json",
        include_str!("../../queries/key_new_source.test.json"),
    ),
];

/// Parses a rule file's text, and checks that its parameters and detection header compile
/// with the default values.
pub fn parse_rule(text: &str, origin: &str) -> Result<Rule, RuleError> {
    let (mut id, mut title, mut sev, mut desc, mut mitre) = (None, None, None, None, Vec::new());
    let (mut params, mut detection) = (Vec::<Param>::new(), Vec::new());
    let mut evidence = None;
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
                        "param" => {
                            let p = Param::parse_decl(&v).map_err(RuleError::Param)?;
                            if params.iter().any(|x| x.name == p.name) {
                                return Err(RuleError::Param(format!(
                                    "parameter {} is declared twice",
                                    p.name
                                )));
                            }
                            params.push(p);
                        }
                        "evidence" if evidence.is_some() => {
                            return Err(RuleError::Evidence(
                                "header line `-- evidence:` appears twice".into(),
                            ));
                        }
                        "evidence" => evidence = Some(v),
                        k if DETECTION_KEYS.contains(&k) => {
                            if detection.iter().any(|(x, _): &(String, String)| x == k) {
                                return Err(RuleError::Detection(format!(
                                    "header line `-- {k}:` appears twice"
                                )));
                            }
                            detection.push((k.to_string(), v));
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
    let rule = Rule {
        id,
        title: title.ok_or(RuleError::MissingField("title"))?,
        severity,
        description: desc.ok_or(RuleError::MissingField("description"))?,
        mitre,
        sql,
        params,
        detection,
        evidence,
        origin: origin.to_string(),
    };
    rule.check_references()?;
    rule.compile(None)?;
    Ok(rule)
}

impl Rule {
    /// Every `${name}` in the SQL and the detection header must be a declared parameter,
    /// and every declared parameter must be used.
    fn check_references(&self) -> Result<(), RuleError> {
        let mut used = params::references(&self.sql).map_err(RuleError::Param)?;
        for (_, v) in &self.detection {
            used.extend(params::references(v).map_err(RuleError::Param)?);
        }
        if let Some(u) = used
            .iter()
            .find(|u| !self.params.iter().any(|p| &p.name == *u))
        {
            return Err(RuleError::Param(format!(
                "unknown parameter ${{{u}}}: declare it with `-- param: {u} = DEFAULT`"
            )));
        }
        if let Some(p) = self.params.iter().find(|p| !used.contains(&p.name)) {
            return Err(RuleError::Param(format!(
                "parameter {} is declared but never used as ${{{}}}",
                p.name, p.name
            )));
        }
        Ok(())
    }

    /// Sets parameter values (defaults, then `values`) and builds the SQL and detection.
    /// A value for an unknown parameter, or of the wrong kind, is an error naming it.
    pub fn compile(
        &self,
        values: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<CompiledRule, RuleError> {
        if let Some(given) = values {
            for (name, v) in given {
                let p = self
                    .params
                    .iter()
                    .find(|p| &p.name == name)
                    .ok_or_else(|| {
                        RuleError::Param(format!(
                            "rule {} has no parameter {name:?}; its parameters: {}",
                            self.id,
                            self.param_list()
                        ))
                    })?;
                p.check(v)
                    .map_err(|e| RuleError::Param(format!("{}.{}: {e}", self.id, p.name)))?;
            }
        }
        let value_of = |p: &Param| -> String {
            values
                .and_then(|m| m.get(&p.name))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| p.default.clone())
        };
        let find = |name: &str| self.params.iter().find(|p| p.name == name);
        let sql = params::substitute(&self.sql, &|n| find(n).map(|p| p.sql_literal(&value_of(p))))
            .map_err(RuleError::Param)?;
        let mut header = Vec::with_capacity(self.detection.len());
        for (k, v) in &self.detection {
            let v = params::substitute(v, &|n| find(n).map(value_of)).map_err(RuleError::Param)?;
            header.push((k.clone(), v));
        }
        let detection = Detection::from_header(&header).map_err(RuleError::Detection)?;
        let evidence = match &self.evidence {
            Some(_) if detection != Detection::Sql => {
                return Err(RuleError::Evidence(
                    "`-- evidence:` is for SQL rules that return groups; a windowed rule lists its evidence itself".into(),
                ));
            }
            Some(h) => Some(evidence::EvidenceSource::parse(h, &sql).map_err(RuleError::Evidence)?),
            None => None,
        };
        Ok(CompiledRule {
            rule: self.clone(),
            sql,
            detection,
            evidence,
            values: self
                .params
                .iter()
                .map(|p| (p.name.clone(), value_of(p)))
                .collect(),
        })
    }

    /// `name = default` for each parameter, comma-separated (`none` when there are none).
    pub fn param_list(&self) -> String {
        if self.params.is_empty() {
            return "none".into();
        }
        self.params
            .iter()
            .map(|p| format!("{} = {}", p.name, p.default))
            .collect::<Vec<_>>()
            .join(", ")
    }
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

/// A rule file's name with the rule parsed from it, or why it could not be.
pub type LoadedRule = (String, Result<Rule, RuleError>);

/// Reads every `*.sql` file in `dir` (sorted), each parsed or with its error.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedRule>, RuleError> {
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

/// Why a set of rules cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading rules from {dir}: {source}")]
    Dir { dir: String, source: RuleError },
    #[error("{file}: {source} (run `keytrail rules lint {dir}`)")]
    Broken {
        file: String,
        dir: String,
        source: RuleError,
    },
    #[error("{file}: rule id {id:?} is already defined; ids must be unique")]
    Duplicate { file: String, id: String },
    #[error("{0}")]
    Set(String),
}

/// The built-in rules plus those in `dirs`, with the parameter values of `set`
/// (`RULE.PARAM=VALUE` items). A broken file, a duplicate id, or a value for a rule or
/// parameter that does not exist is an error; the last names the valid targets.
pub fn collect(
    dirs: &[std::path::PathBuf],
    set: &[String],
) -> Result<Vec<CompiledRule>, CollectError> {
    let mut all = builtin_rules();
    for d in dirs {
        let entries = load_dir(d).map_err(|source| CollectError::Dir {
            dir: d.display().to_string(),
            source,
        })?;
        for (file, r) in entries {
            let rule = r.map_err(|source| CollectError::Broken {
                file: file.clone(),
                dir: d.display().to_string(),
                source,
            })?;
            if all.iter().any(|x| x.id == rule.id) {
                return Err(CollectError::Duplicate { file, id: rule.id });
            }
            all.push(rule);
        }
    }
    let overrides = Overrides::parse_set(set).map_err(CollectError::Set)?;
    check_targets(&all, &overrides).map_err(CollectError::Set)?;
    all.iter()
        .map(|r| {
            r.compile(overrides.for_rule(&r.id))
                .map_err(|e| CollectError::Set(e.to_string()))
        })
        .collect()
}

/// Every override must name a rule and one of its parameters; otherwise the error lists
/// the valid `RULE.PARAM` targets.
pub fn check_targets(rules: &[Rule], o: &Overrides) -> Result<(), String> {
    for (rule, param) in o.targets() {
        let ok = rules
            .iter()
            .find(|r| r.id == rule)
            .is_some_and(|r| r.params.iter().any(|p| p.name == param));
        if !ok {
            let valid: Vec<String> = rules
                .iter()
                .flat_map(|r| r.params.iter().map(move |p| format!("{}.{}", r.id, p.name)))
                .collect();
            let what = if rules.iter().any(|r| r.id == rule) {
                format!("rule {rule} has no parameter {param:?}")
            } else {
                format!("there is no rule {rule:?}")
            };
            return Err(format!(
                "cannot set {rule}.{param}: {what}; the parameters that can be set are: {}",
                valid.join(", ")
            ));
        }
    }
    Ok(())
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
