//! Rule parameters: declared in a rule's header with a default (`-- param: window = 5m`),
//! used as `${window}` in the SQL and in the other header values, and overridden with
//! `--set RULE.PARAM=VALUE` or the job's `[params]` table.
//!
//! A parameter's kind comes from its default: an integer (`100`), a duration (`30s`, `5m`,
//! `24h`, `7d`, `2w`) or text. An override must be of the same kind. In SQL an integer is
//! written as it is, a duration as its number of seconds and text as a quoted string; in
//! header values every kind is written as it is.

use std::collections::BTreeMap;

use crate::timefmt::parse_relative;

/// What values a parameter takes, decided by its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Integer,
    Duration,
    Text,
}

impl ParamKind {
    /// The kind of a default value.
    pub fn of(value: &str) -> ParamKind {
        if value.parse::<i64>().is_ok() {
            ParamKind::Integer
        } else if parse_duration(value).is_some() {
            ParamKind::Duration
        } else {
            ParamKind::Text
        }
    }

    /// The name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Integer => "an integer",
            ParamKind::Duration => "a duration (30s, 5m, 24h, 7d, 2w)",
            ParamKind::Text => "text",
        }
    }
}

/// A duration such as `30s`, `5m`, `24h`, `7d` or `2w`, in microseconds (positive).
pub fn parse_duration(v: &str) -> Option<i64> {
    parse_relative(v.trim()).filter(|us| *us > 0)
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub default: String,
    pub kind: ParamKind,
    /// What it means, from the text after `;` in the declaration.
    pub doc: Option<String>,
}

impl Param {
    /// Parses `NAME = DEFAULT[; what it means]`.
    pub fn parse_decl(decl: &str) -> Result<Param, String> {
        let (head, doc) = match decl.split_once(';') {
            Some((h, d)) => (h, Some(d.trim().to_string()).filter(|d| !d.is_empty())),
            None => (decl, None),
        };
        let (name, default) = head
            .split_once('=')
            .ok_or_else(|| format!("`-- param: {decl}` must read `NAME = DEFAULT`"))?;
        let (name, default) = (name.trim(), default.trim());
        if !is_param_name(name) {
            return Err(format!(
                "parameter name {name:?} must be lowercase letters, digits or '_', starting with a letter"
            ));
        }
        if default.is_empty() {
            return Err(format!("parameter {name} has no default value"));
        }
        Ok(Param {
            name: name.to_string(),
            default: default.to_string(),
            kind: ParamKind::of(default),
            doc,
        })
    }

    /// Checks that `value` is of this parameter's kind.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let v = value.trim();
        let ok = match self.kind {
            ParamKind::Integer => v.parse::<i64>().is_ok(),
            ParamKind::Duration => parse_duration(v).is_some(),
            ParamKind::Text => !v.is_empty(),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not {} (the default is {})",
                value,
                self.kind.as_str(),
                self.default
            ))
        }
    }

    /// The value as written into SQL: integers as they are, durations in seconds, text
    /// as a quoted string literal.
    pub fn sql_literal(&self, value: &str) -> String {
        let v = value.trim();
        match self.kind {
            ParamKind::Integer => v.to_string(),
            ParamKind::Duration => (parse_duration(v).unwrap_or(0) / 1_000_000).to_string(),
            ParamKind::Text => format!("'{}'", v.replace('\'', "''")),
        }
    }
}

/// True for `[a-z][a-z0-9_]*`.
fn is_param_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The names used as `${name}` in `text`, in order of appearance; an unclosed `${` is an
/// error.
pub fn references(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in {:?}", snippet(after)))?;
        out.push(after[..end].trim().to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// Replaces every `${name}` in `text` with `value(name)`; a name without a value is an
/// error naming it.
pub fn substitute(text: &str, value: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in {:?}", snippet(after)))?;
        let name = after[..end].trim();
        let v = value(name).ok_or_else(|| {
            format!("unknown parameter ${{{name}}}: declare it with `-- param: {name} = DEFAULT`")
        })?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The first characters of `s`, for messages.
fn snippet(s: &str) -> String {
    s.chars().take(30).collect()
}

/// Parameter values given by the user: rule id -> parameter -> value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides(BTreeMap<String, BTreeMap<String, String>>);

impl Overrides {
    /// Parses `RULE.PARAM=VALUE` items (`--set`, repeated).
    pub fn parse_set(items: &[String]) -> Result<Overrides, String> {
        let mut o = Overrides::default();
        for item in items {
            let (target, value) = item.split_once('=').ok_or_else(|| {
                format!("--set {item:?}: write RULE.PARAM=VALUE, e.g. key_invocation_spike.threshold=500")
            })?;
            let (rule, param) = target.trim().split_once('.').ok_or_else(|| {
                format!(
                    "--set {item:?}: the target must be RULE.PARAM, e.g. key_multi_region.window"
                )
            })?;
            o.insert(rule.trim(), param.trim(), value.trim());
        }
        Ok(o)
    }

    /// Sets one value (a later value for the same target wins).
    pub fn insert(&mut self, rule: &str, param: &str, value: &str) {
        self.0
            .entry(rule.to_string())
            .or_default()
            .insert(param.to_string(), value.to_string());
    }

    /// The values given for one rule.
    pub fn for_rule(&self, id: &str) -> Option<&BTreeMap<String, String>> {
        self.0.get(id)
    }

    /// Every (rule, parameter) target given.
    pub fn targets(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|(r, m)| m.keys().map(move |p| (r.as_str(), p.as_str())))
    }

    /// True when nothing was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_give_a_kind_from_the_default() {
        let p = Param::parse_decl("window = 5m; the sliding window").unwrap();
        assert_eq!(
            (p.name.as_str(), p.kind, p.doc.as_deref()),
            ("window", ParamKind::Duration, Some("the sliding window"))
        );
        assert_eq!(
            Param::parse_decl("threshold = 100").unwrap().kind,
            ParamKind::Integer
        );
        assert_eq!(
            Param::parse_decl("prefix = bedrockapikey-").unwrap().kind,
            ParamKind::Text
        );
        assert!(Param::parse_decl("Threshold = 1").is_err());
        assert!(Param::parse_decl("threshold").is_err());
        assert!(Param::parse_decl("threshold = ").is_err());
    }

    #[test]
    fn values_are_checked_against_the_kind_and_written_for_sql() {
        let w = Param::parse_decl("window = 5m").unwrap();
        assert!(w.check("1h").is_ok());
        assert!(w.check("100").unwrap_err().contains("not a duration"));
        assert_eq!(w.sql_literal("2m"), "120");
        let t = Param::parse_decl("threshold = 100").unwrap();
        assert!(t.check("ten").is_err());
        assert_eq!(t.sql_literal("500"), "500");
        let s = Param::parse_decl("agent = curl").unwrap();
        assert_eq!(s.sql_literal("it's"), "'it''s'");
    }

    #[test]
    fn substitution_replaces_known_names_and_names_the_unknown() {
        let v = |n: &str| (n == "threshold").then(|| "100".to_string());
        assert_eq!(
            substitute("COUNT(*) > ${threshold}", &v).unwrap(),
            "COUNT(*) > 100"
        );
        let e = substitute("x > ${limit}", &v).unwrap_err();
        assert!(e.contains("${limit}"), "{e}");
        assert!(substitute("x > ${limit", &v).is_err());
        assert_eq!(
            references("a ${x} b ${ y }").unwrap(),
            vec!["x".to_string(), "y".to_string()]
        );
    }

    #[test]
    fn set_items_parse_into_rule_and_parameter() {
        let o = Overrides::parse_set(&[
            "key_invocation_spike.threshold=500".into(),
            "key_multi_region.window = 1h".into(),
        ])
        .unwrap();
        assert_eq!(o.for_rule("key_multi_region").unwrap()["window"], "1h");
        assert_eq!(o.targets().count(), 2);
        assert!(Overrides::parse_set(&["threshold=5".into()]).is_err());
        assert!(Overrides::parse_set(&["a.b".into()]).is_err());
    }
}
