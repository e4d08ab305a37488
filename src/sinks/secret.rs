//! Tokens and passwords for the SIEM sinks. They come from an environment variable or a
//! file, never from the command line itself, and never appear in output: `Debug` hides
//! them and [`Secret::scrub`] removes them from any text (such as a response body) before
//! it is shown.

use std::path::{Path, PathBuf};

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value of an environment variable (named, not the value itself).
    Env(String),
    /// The contents of a file, trailing newline removed.
    File(PathBuf),
}

/// Why a secret could not be read. The messages name the variable or file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {var} is not set or empty: export the {what} in it")]
    EnvMissing { var: String, what: &'static str },
    #[error("{path}: cannot read the {what}: {error}")]
    FileUnreadable {
        path: String,
        what: &'static str,
        error: std::io::Error,
    },
    #[error("{path}: the file is empty: write the {what} in it")]
    FileEmpty { path: String, what: &'static str },
}

/// A secret value; shown as `***` everywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// Reads the secret; `what` names it in messages ("HEC token").
    pub fn load(src: &SecretSource, what: &'static str) -> Result<Secret, SecretError> {
        Self::load_with(src, what, |k| std::env::var(k).ok())
    }

    /// Like [`Secret::load`], reading variables through `get` (tests pass their own).
    pub fn load_with(
        src: &SecretSource,
        what: &'static str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Secret, SecretError> {
        match src {
            SecretSource::Env(var) => get(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(Secret)
                .ok_or_else(|| SecretError::EnvMissing {
                    var: var.clone(),
                    what,
                }),
            SecretSource::File(p) => read_file(p, what),
        }
    }

    /// The value, for building a request header. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with the secret, and the other `forms` of it (an encoded header), masked.
    pub fn scrub(&self, text: &str, forms: &[&str]) -> String {
        let mut out = text.to_string();
        for s in std::iter::once(self.0.as_str()).chain(forms.iter().copied()) {
            if s.len() >= 3 {
                out = out.replace(s, "***");
            }
        }
        out
    }
}

/// The `user:password@` part of a `scheme://user:password@host...` address, if any: the
/// text between `://` and the first `@` before any `/`, `?` or `#`.
fn userinfo(s: &str) -> Option<(usize, usize)> {
    let start = s.find("://")? + 3;
    let rest = &s[start..];
    let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..end_of_authority].rfind('@')?;
    Some((start, start + at))
}

/// True when an address carries credentials (`scheme://user[:password]@host`).
pub fn has_userinfo(s: &str) -> bool {
    userinfo(s).is_some()
}

/// An address fit to print: `tcp://user:***@host:514`; a user name alone may be a token, so
/// `https://***@host`; something that is not an address but has an `@` keeps only what
/// follows it (anything else is returned as it is).
pub fn mask_url(s: &str) -> String {
    match userinfo(s) {
        None if !s.contains("://") && s.contains('@') => {
            format!("***{}", &s[s.rfind('@').unwrap_or(0)..])
        }
        None => s.to_string(),
        Some((start, at)) => {
            let shown = match s[start..at].split_once(':') {
                Some((user, _)) if !user.is_empty() => format!("{user}:***"),
                _ => "***".to_string(),
            };
            format!("{}{shown}{}", &s[..start], &s[at..])
        }
    }
}

/// Reads a secret file.
fn read_file(p: &Path, what: &'static str) -> Result<Secret, SecretError> {
    let path = p.display().to_string();
    let text = std::fs::read_to_string(p).map_err(|error| SecretError::FileUnreadable {
        path: path.clone(),
        what,
        error,
    })?;
    let v = text.trim_end_matches(['\r', '\n']).trim().to_string();
    if v.is_empty() {
        return Err(SecretError::FileEmpty { path, what });
    }
    Ok(Secret(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_load_from_env_or_file_and_never_show() {
        let s = Secret::load_with(&SecretSource::Env("TOK".into()), "HEC token", |k| {
            (k == "TOK").then(|| "abc-123".to_string())
        })
        .unwrap();
        assert_eq!(s.expose(), "abc-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let missing = Secret::load_with(&SecretSource::Env("NOPE".into()), "HEC token", |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("NOPE") && missing.contains("HEC token"),
            "{missing}"
        );

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "from-file\n").unwrap();
        let s = Secret::load(&SecretSource::File(f.clone()), "HEC token").unwrap();
        assert_eq!(s.expose(), "from-file");
        std::fs::write(&f, "\n").unwrap();
        let empty = Secret::load(&SecretSource::File(f), "HEC token")
            .unwrap_err()
            .to_string();
        assert!(empty.contains("empty"), "{empty}");
    }

    #[test]
    fn credentials_in_addresses_are_masked() {
        assert_eq!(
            mask_url("tcp://user:PASS@host:514"),
            "tcp://user:***@host:514"
        );
        assert_eq!(
            mask_url("https://tok3n@splunk:8088/x@y"),
            "https://***@splunk:8088/x@y"
        );
        assert_eq!(mask_url("http://:pw@h"), "http://***@h");
        assert_eq!(mask_url("udp://127.0.0.1:514"), "udp://127.0.0.1:514");
        assert_eq!(mask_url("http://h/path?q=a@b"), "http://h/path?q=a@b");
        assert_eq!(mask_url("tcp//u:PASS@h:1"), "***@h:1");
        assert!(has_userinfo("tcp://u:p@h:1") && !has_userinfo("tcp://h:1"));
    }

    #[test]
    fn scrub_masks_the_value_and_its_encoded_forms() {
        let s = Secret("hunter2".into());
        assert_eq!(
            s.scrub("bad token hunter2 (aHVudGVyMg==)", &["aHVudGVyMg=="]),
            "bad token *** (***)"
        );
    }
}
