//! The scheduled job's TOML configuration, with environment and flag overrides.
//!
//! ```toml
//! inputs = ["s3://org-trail-bucket", "lookup:us-east-1,us-west-2"]
//! state = "/var/lib/keytrail/state.sqlite"
//! lookback = "2d"          # S3 day folders re-listed each run (late deliveries); first run's start
//! lookup_overlap = "15m"   # each LookupEvents query restarts this long before its last run
//! history = "30d"          # relevant events kept for rules that span runs
//! min_severity = "low"     # findings below are not sent
//! queries = ["/etc/keytrail/rules"]
//!
//! [aws]
//! profile = "audit"
//! role_arn = "arn:aws:iam::111122223333:role/KeytrailAudit"
//!
//! [[sink]]
//! kind = "ndjson"
//! path = "/var/log/keytrail/findings.ndjson"
//!
//! [[sink]]
//! kind = "splunk-hec"
//! url = "https://splunk.example:8088"
//! token_env = "SPLUNK_HEC_TOKEN"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::AwsArgs;
use crate::rules::Severity;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: invalid configuration: {message}")]
    Invalid { path: String, message: String },
}

/// The job's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// `s3://...`, `lookup:...` inputs, local files and folders.
    pub inputs: Vec<String>,
    /// The SQLite state file.
    #[serde(default = "default_state")]
    pub state: PathBuf,
    /// Accept a missing or empty state as a first run (as `--init` does), on every run.
    #[serde(default)]
    pub init: bool,
    #[serde(default = "default_lookback")]
    pub lookback: String,
    #[serde(default = "default_overlap")]
    pub lookup_overlap: String,
    #[serde(default = "default_history")]
    pub history: String,
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Folders of extra rules.
    #[serde(default)]
    pub queries: Vec<PathBuf>,
    #[serde(default)]
    pub aws: AwsSettings,
    /// Where findings go; each sink acknowledges separately.
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkConfig>,
    /// Retries of a failed delivery (HTTP 429/5xx, connection errors); default 4.
    #[serde(default)]
    pub retries: Option<u32>,
    /// The first wait before a retry (`500ms`, `2s`); each later one doubles. Default 1s.
    #[serde(default)]
    pub retry_delay: Option<String>,
    /// Memory the events table may use before it spills to temporary files (`512M`).
    #[serde(default)]
    pub memory_limit: Option<String>,
    /// Rule parameter values: `[params.RULE]` tables of `PARAM = VALUE`.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, toml::Table>,
}

impl JobConfig {
    /// The `[params]` tables as `RULE.PARAM=VALUE` items (values: integers or strings).
    pub fn param_settings(&self) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for (rule, table) in &self.params {
            for (param, v) in table {
                let v = match v {
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::String(s) => s.clone(),
                    _ => {
                        return Err(ConfigError::Invalid {
                            path: "configuration".into(),
                            message: format!(
                                "[params.{rule}] {param}: use an integer or a string such as \"30m\""
                            ),
                        });
                    }
                };
                out.push(format!("{rule}.{param}={v}"));
            }
        }
        Ok(out)
    }
}

/// AWS access, as the flags of the other commands.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub role_session_name: Option<String>,
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub force_path_style: bool,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    pub concurrency: Option<u16>,
    /// `-v` on the command line, not a setting: the AWS SDK's error text in messages.
    #[serde(skip)]
    pub verbose: bool,
}

impl AwsSettings {
    /// The same settings as command-line AWS arguments.
    pub fn to_args(&self) -> AwsArgs {
        AwsArgs {
            profile: self.profile.clone(),
            region: self.region.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            role_session_name: self.role_session_name.clone(),
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.force_path_style,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            concurrency: self.concurrency.unwrap_or(16).max(1),
            verbose: self.verbose,
        }
    }
}

/// One destination for findings. `kind` picks the format and transport; the other keys
/// are that kind's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct SinkConfig {
    pub kind: String,
    /// A name for the state (default: the kind and its target); renaming a sink makes it new.
    pub name: Option<String>,
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl SinkConfig {
    /// The name acknowledgements are recorded under (and reports show); credentials in a
    /// target address are masked (`tcp://user:***@host`; such addresses are refused anyway).
    pub fn state_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let target = ["path", "url", "address"]
            .iter()
            .find_map(|k| self.settings.get(*k).and_then(|v| v.as_str()))
            .map(crate::sinks::secret::mask_url)
            .unwrap_or_default();
        match self.settings.get("index").and_then(|v| v.as_str()) {
            Some(index) if self.kind == "elastic" => format!("elastic:{target}/{index}"),
            _ => format!("{}:{target}", self.kind),
        }
    }

    /// A required text setting.
    pub fn text(&self, key: &str) -> Result<&str, String> {
        self.settings
            .get(key)
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("sink {:?} needs `{key} = \"...\"`", self.kind))
    }
}

fn default_state() -> PathBuf {
    PathBuf::from("keytrail-state.sqlite")
}
fn default_lookback() -> String {
    "2d".into()
}
fn default_overlap() -> String {
    "15m".into()
}
fn default_history() -> String {
    "30d".into()
}

/// Reads the file, then applies `KEYTRAIL_STATE`, `KEYTRAIL_INPUTS` (comma-separated),
/// `KEYTRAIL_LOOKBACK`, `KEYTRAIL_RETRIES`, `KEYTRAIL_RETRY_DELAY` and
/// `KEYTRAIL_MEMORY_LIMIT` from the environment.
pub fn load(path: &Path) -> Result<JobConfig, ConfigError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: p.clone(),
        source,
    })?;
    let mut cfg: JobConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
        path: p.clone(),
        message: describe_toml_error(&e, &text),
    })?;
    apply_env(&mut cfg, |k| std::env::var(k).ok());
    if cfg.inputs.is_empty() {
        return Err(ConfigError::Invalid {
            path: p,
            message: "`inputs` is empty: name at least one s3://, lookup: or local input".into(),
        });
    }
    Ok(cfg)
}

/// A TOML error by line, column and key, never quoting the text: the offending line may
/// hold a secret (`hec_token = "..."`), and so may a value quoted in the message.
pub fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let message = unquote(e.message().lines().next().unwrap_or("invalid TOML"));
    let Some(span) = e.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or("");
    match line_text.split_once('=').map(|(k, _)| k.trim()) {
        Some(k)
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(c)) =>
        {
            format!("line {line}, column {column}, key `{k}`: {message}")
        }
        _ => format!("line {line}, column {column}: {message}"),
    }
}

/// A message with every double-quoted value replaced by `"..."`.
fn unquote(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"...\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// Environment overrides, read through `get` (tests pass their own).
pub fn apply_env(cfg: &mut JobConfig, get: impl Fn(&str) -> Option<String>) {
    if let Some(s) = get("KEYTRAIL_STATE").filter(|s| !s.is_empty()) {
        cfg.state = PathBuf::from(s);
    }
    if let Some(s) = get("KEYTRAIL_INPUTS").filter(|s| !s.is_empty()) {
        cfg.inputs = s.split(',').map(|x| x.trim().to_string()).collect();
    }
    if let Some(s) = get("KEYTRAIL_LOOKBACK").filter(|s| !s.is_empty()) {
        cfg.lookback = s;
    }
    if let Some(n) = get("KEYTRAIL_RETRIES").and_then(|s| s.trim().parse().ok()) {
        cfg.retries = Some(n);
    }
    if let Some(s) = get("KEYTRAIL_RETRY_DELAY").filter(|s| !s.is_empty()) {
        cfg.retry_delay = Some(s);
    }
    if let Some(s) = get("KEYTRAIL_MEMORY_LIMIT").filter(|s| !s.is_empty()) {
        cfg.memory_limit = Some(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
inputs = ["s3://trail", "lookup:us-east-1"]
state = "/tmp/s.sqlite"
min_severity = "medium"
[aws]
profile = "audit"
force_path_style = true
[[sink]]
kind = "ndjson"
path = "/tmp/f.ndjson"
"#;

    #[test]
    fn a_config_file_reads_with_defaults_and_env_overrides() {
        let mut cfg: JobConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(cfg.lookback, "2d");
        assert_eq!(cfg.min_severity, Some(Severity::Medium));
        assert_eq!(cfg.aws.to_args().profile.as_deref(), Some("audit"));
        assert_eq!(cfg.sinks[0].state_name(), "ndjson:/tmp/f.ndjson");
        apply_env(&mut cfg, |k| match k {
            "KEYTRAIL_STATE" => Some("/var/lib/k.sqlite".into()),
            "KEYTRAIL_INPUTS" => Some("s3://other, lookup:all".into()),
            _ => None,
        });
        assert_eq!(cfg.state, PathBuf::from("/var/lib/k.sqlite"));
        assert_eq!(cfg.inputs, vec!["s3://other", "lookup:all"]);
        apply_env(&mut cfg, |k| match k {
            "KEYTRAIL_RETRIES" => Some("2".into()),
            "KEYTRAIL_RETRY_DELAY" => Some("10ms".into()),
            _ => None,
        });
        assert_eq!(cfg.retries, Some(2));
        assert_eq!(cfg.retry_delay.as_deref(), Some("10ms"));
    }

    #[test]
    fn an_elastic_sink_is_named_by_url_and_index() {
        let s: SinkConfig =
            toml::from_str("kind = \"elastic\"\nurl = \"http://e:9200\"\nindex = \"k\"").unwrap();
        assert_eq!(s.state_name(), "elastic:http://e:9200/k");
    }

    #[test]
    fn the_shipped_example_configuration_is_valid() {
        let cfg: JobConfig = toml::from_str(include_str!("../../deploy/keytrail.toml")).unwrap();
        assert_eq!(cfg.inputs.len(), 2);
        assert_eq!(cfg.sinks[0].kind, "ndjson");
        for s in &cfg.sinks {
            super::super::deliver::spec(s).unwrap();
        }
    }

    #[test]
    fn toml_errors_name_line_column_and_key_but_never_a_value() {
        let text = "inputs = [\"s3://t\"]\nsecret_access_key = \"wJalrXUtnFEMI/K7MDENG\"\n";
        let e = toml::from_str::<JobConfig>(text).unwrap_err();
        let m = describe_toml_error(&e, text);
        assert!(!m.contains("wJalr"), "{m}");
        assert!(
            m.contains("line 2") && m.contains("secret_access_key"),
            "{m}"
        );
        let text = "inputs = [\"s3://t\"]\nretries = \"hec-tok-123\"\n";
        let e = toml::from_str::<JobConfig>(text).unwrap_err();
        let m = describe_toml_error(&e, text);
        assert!(
            !m.contains("hec-tok-123") && m.contains("key `retries`"),
            "{m}"
        );
        let text =
            "inputs = [\"s3://t\"]\n[[sink]]\nkind = \"splunk-hec\"\nhec_token = \"abc-secret\n";
        let e = toml::from_str::<JobConfig>(text).unwrap_err();
        let m = describe_toml_error(&e, text);
        assert!(!m.contains("abc-secret") && m.contains("line 4"), "{m}");
    }

    #[test]
    fn sink_names_mask_credentials() {
        let s: SinkConfig =
            toml::from_str("kind = \"syslog\"\naddress = \"tcp://u:PASS@h:514\"").unwrap();
        assert_eq!(s.state_name(), "syslog:tcp://u:***@h:514");
    }

    #[test]
    fn rule_parameters_are_read_from_params_tables() {
        let cfg: JobConfig = toml::from_str(&format!(
            "{EXAMPLE}\n[params]\nkey_invocation_spike.threshold = 500\n[params.key_multi_region]\nwindow = \"1h\"\n"
        ))
        .unwrap();
        assert_eq!(
            cfg.param_settings().unwrap(),
            vec![
                "key_invocation_spike.threshold=500".to_string(),
                "key_multi_region.window=1h".to_string()
            ]
        );
        let bad: JobConfig = toml::from_str(&format!("{EXAMPLE}\n[params.x]\ny = [1]\n")).unwrap();
        assert!(bad.param_settings().is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let bad = format!("lookbak = \"1d\"\n{EXAMPLE}");
        let err = toml::from_str::<JobConfig>(&bad).unwrap_err().to_string();
        assert!(err.contains("lookbak"), "{err}");
    }
}
