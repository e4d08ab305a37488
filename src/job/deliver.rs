//! The job's `[[sink]]` tables turned into sinks (the formats and transports live in
//! `crate::sinks`). Secrets are named by variable (`token_env`) or file (`token_file`),
//! never written in the configuration; unknown keys are refused like everywhere else.

use std::path::PathBuf;

use super::config::SinkConfig;
use crate::sinks::elastic::{self, ElasticAuth, ElasticConfig};
use crate::sinks::file::FileFormat;
use crate::sinks::hec::{self, HecConfig};
use crate::sinks::secret::SecretSource;
use crate::sinks::{ExportContext, RetryPolicy, Sink, SinkSpec, build as build_sink, syslog};

/// The sink kinds and the keys each takes (besides `kind` and `name`).
const KINDS: &[(&str, &[&str])] = &[
    ("ndjson", &["path"]),
    ("ocsf", &["path"]),
    (
        "splunk-hec",
        &[
            "url",
            "token_env",
            "token_file",
            "sourcetype",
            "index",
            "batch_size",
        ],
    ),
    (
        "elastic",
        &[
            "url",
            "index",
            "api_key_env",
            "api_key_file",
            "user",
            "password_env",
            "password_file",
            "batch_size",
        ],
    ),
    ("syslog", &["address", "format"]),
];

/// Builds the sink a `[[sink]]` table describes.
pub fn build(
    cfg: &SinkConfig,
    ctx: &ExportContext,
    retry: RetryPolicy,
) -> Result<Box<dyn Sink>, String> {
    let spec = spec(cfg)?;
    build_sink(&spec, Some(cfg.state_name()), ctx.clone(), retry)
        .map_err(|e| format!("sink {:?}: {e}", cfg.state_name()))
}

/// What a `[[sink]]` table describes.
pub fn spec(cfg: &SinkConfig) -> Result<SinkSpec, String> {
    let kind = cfg.kind.as_str();
    let Some((_, keys)) = KINDS.iter().find(|(k, _)| *k == kind) else {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Err(format!(
            "unknown sink kind {kind:?}: use one of {}",
            known.join(", ")
        ));
    };
    for key in cfg.settings.keys() {
        if matches!(key.as_str(), "token" | "api_key" | "password") {
            return Err(format!(
                "sink {kind:?}: secrets are not written in the configuration: use `{key}_env = \"VARIABLE\"` or `{key}_file = \"/path\"`"
            ));
        }
        if !keys.contains(&key.as_str()) {
            return Err(format!(
                "sink {kind:?}: unknown key `{key}` (known: {})",
                keys.join(", ")
            ));
        }
    }
    Ok(match kind {
        "ndjson" | "ocsf" => SinkSpec::File {
            path: PathBuf::from(cfg.text("path")?),
            format: if kind == "ocsf" {
                FileFormat::Ocsf
            } else {
                FileFormat::Ndjson
            },
            append: true,
        },
        "splunk-hec" => SinkSpec::SplunkHec(HecConfig {
            url: checked_url(cfg)?,
            token: secret(cfg, "token")?,
            sourcetype: optional(cfg, "sourcetype")?
                .unwrap_or(hec::DEFAULT_SOURCETYPE)
                .to_string(),
            index: optional(cfg, "index")?.map(str::to_string),
            batch_size: batch_size(cfg, hec::DEFAULT_BATCH)?,
        }),
        "elastic" => SinkSpec::Elastic(ElasticConfig {
            url: checked_url(cfg)?,
            index: cfg.text("index")?.to_string(),
            auth: elastic_auth(cfg)?,
            batch_size: batch_size(cfg, elastic::DEFAULT_BATCH)?,
        }),
        _ => {
            let format = optional(cfg, "format")?.unwrap_or("cef");
            if !format.eq_ignore_ascii_case("cef") {
                return Err(format!(
                    "sink \"syslog\": format {format:?} is not supported: use \"cef\""
                ));
            }
            SinkSpec::Syslog(syslog::parse_address(cfg.text("address")?)?)
        }
    })
}

/// `url`, checked (http or https, no credentials in it) without ever echoing a secret.
fn checked_url(cfg: &SinkConfig) -> Result<String, String> {
    let url = cfg.text("url")?;
    crate::sinks::http::base_url(url).map_err(|e| format!("sink {:?}: {e}", cfg.kind))?;
    Ok(url.to_string())
}

/// `user` with `password_env`/`password_file`, or `api_key_env`/`api_key_file`, or none.
fn elastic_auth(cfg: &SinkConfig) -> Result<ElasticAuth, String> {
    let has = |k: &str| cfg.settings.contains_key(k);
    if let Some(user) = optional(cfg, "user")? {
        if has("api_key_env") || has("api_key_file") {
            return Err(
                "sink \"elastic\": use either `user` with a password or an API key, not both"
                    .into(),
            );
        }
        return Ok(ElasticAuth::Basic {
            user: user.to_string(),
            password: secret(cfg, "password")?,
        });
    }
    if has("password_env") || has("password_file") {
        return Err("sink \"elastic\": a password needs `user = \"...\"`".into());
    }
    if has("api_key_env") || has("api_key_file") {
        return Ok(ElasticAuth::ApiKey(secret(cfg, "api_key")?));
    }
    Ok(ElasticAuth::None)
}

/// An optional text setting.
fn optional<'a>(cfg: &'a SinkConfig, key: &str) -> Result<Option<&'a str>, String> {
    match cfg.settings.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| format!("sink {:?}: `{key}` must be a string", cfg.kind)),
    }
}

/// `<name>_env` or `<name>_file`: exactly one.
fn secret(cfg: &SinkConfig, name: &str) -> Result<SecretSource, String> {
    let env = optional(cfg, &format!("{name}_env"))?;
    let file = optional(cfg, &format!("{name}_file"))?;
    match (env, file) {
        (Some(v), None) => Ok(SecretSource::Env(v.to_string())),
        (None, Some(p)) => Ok(SecretSource::File(PathBuf::from(p))),
        _ => Err(format!(
            "sink {:?} needs exactly one of `{name}_env = \"VARIABLE\"` or `{name}_file = \"/path\"`",
            cfg.kind
        )),
    }
}

/// `batch_size`, a positive integer.
fn batch_size(cfg: &SinkConfig, default: usize) -> Result<usize, String> {
    match cfg.settings.get("batch_size") {
        None => Ok(default),
        Some(v) => v
            .as_integer()
            .filter(|n| *n > 0)
            .map(|n| n as usize)
            .ok_or_else(|| {
                format!(
                    "sink {:?}: `batch_size` must be a positive integer",
                    cfg.kind
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(text: &str) -> SinkConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn every_sink_kind_reads_from_its_table() {
        let hec = spec(&sink(
            "kind = \"splunk-hec\"\nurl = \"https://s:8088\"\ntoken_env = \"T\"\nindex = \"sec\"",
        ))
        .unwrap();
        match hec {
            SinkSpec::SplunkHec(c) => {
                assert_eq!(c.token, SecretSource::Env("T".into()));
                assert_eq!(c.sourcetype, "keytrail:finding");
                assert_eq!(c.index.as_deref(), Some("sec"));
            }
            other => panic!("{other:?}"),
        }
        let es = spec(&sink(
            "kind = \"elastic\"\nurl = \"http://e:9200\"\nindex = \"k\"\nuser = \"u\"\npassword_file = \"/p\"",
        ))
        .unwrap();
        assert!(matches!(
            es,
            SinkSpec::Elastic(ElasticConfig {
                auth: ElasticAuth::Basic { .. },
                ..
            })
        ));
        let sys = spec(&sink(
            "kind = \"syslog\"\naddress = \"udp://127.0.0.1:514\"",
        ))
        .unwrap();
        assert!(matches!(sys, SinkSpec::Syslog(_)));
        let ocsf = spec(&sink("kind = \"ocsf\"\npath = \"/tmp/o.json\"")).unwrap();
        assert!(matches!(
            ocsf,
            SinkSpec::File {
                format: FileFormat::Ocsf,
                append: true,
                ..
            }
        ));
    }

    #[test]
    fn secrets_in_the_configuration_and_unknown_keys_are_refused() {
        let e = spec(&sink(
            "kind = \"splunk-hec\"\nurl = \"https://s\"\ntoken = \"abc\"",
        ))
        .unwrap_err();
        assert!(e.contains("token_env") && !e.contains("abc"), "{e}");
        let e = spec(&sink("kind = \"ndjson\"\npath = \"/x\"\npth = \"/y\"")).unwrap_err();
        assert!(e.contains("`pth`"), "{e}");
        let e = spec(&sink(
            "kind = \"elastic\"\nurl = \"http://e\"\nindex = \"k\"\napi_key_env = \"A\"\napi_key_file = \"/f\"",
        ))
        .unwrap_err();
        assert!(e.contains("exactly one"), "{e}");
        let e = spec(&sink("kind = \"kafka\"")).unwrap_err();
        assert!(e.contains("splunk-hec"), "{e}");
        let e = spec(&sink(
            "kind = \"elastic\"\nurl = \"http://u:hunter2@e:9200\"\nindex = \"k\"",
        ))
        .unwrap_err();
        assert!(!e.contains("hunter2") && e.contains("credentials"), "{e}");
        let e = spec(&sink(
            "kind = \"syslog\"\naddress = \"tcp://u:hunter2@h:514\"",
        ))
        .unwrap_err();
        assert!(!e.contains("hunter2") && e.contains("u:***@h"), "{e}");
    }
}
