//! Redaction of secrets before anything is printed: keys, tokens and signatures never
//! appear in full in output or logs.
//!
//! Besides identifiers (`redact_key_id`), CloudTrail records themselves can carry secrets:
//! a leaked Bedrock key pasted into an error message or a user agent, the `sessionToken`
//! that STS responses log, a `secretAccessKey` in a response, a presigned URL's signature.
//! [`redact_secrets`] hides those in any text (a field, a whole raw record) the way `decode`
//! shows a key: its prefix, a few harmless characters and a fingerprint to match reports.

use std::borrow::Cow;
use std::sync::LazyLock;

use crate::keys::token::{fingerprint, redact_candidate, token_spans};
use crate::sources::prefilter::Prefilter;

/// An access key id with its middle hidden: `AKIA…WXYZ` (the prefix tells the key type).
pub fn redact_key_id(id: &str) -> String {
    if id.len() <= 8 || !id.is_ascii() {
        return "****".to_string();
    }
    format!("{}…{}", &id[..4], &id[id.len() - 4..])
}

/// JSON keys whose string values are secrets (as keys: quoted, or quoted with escaped
/// quotes inside another JSON string).
const SECRET_KEYS: &[&str] = &[
    "secretAccessKey",
    "SecretAccessKey",
    "sessionToken",
    "SessionToken",
    "password",
    "Password",
    "aws_secret_access_key",
];

/// `name=value` forms whose value is a secret (URL parameters, config lines).
const SECRET_PARAMS: &[&str] = &[
    "X-Amz-Signature=",
    "X-Amz-Security-Token=",
    "aws_secret_access_key=",
    "aws_session_token=",
];

/// Words one of which every text with a secret [`redact_secrets`] hides contains.
const MARKER_WORDS: &[&str] = &[
    crate::keys::token::BEDROCK_LONG_PREFIX,
    crate::keys::token::BEDROCK_SHORT_PREFIX,
    crate::keys::token::CLAUDE_LONG_PREFIX,
    crate::keys::token::CLAUDE_SHORT_PREFIX,
    "ecretAccessKey",
    "essionToken",
    "assword",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "ecret_access_key",
    "ession_token",
];

/// The matcher for [`MARKER_WORDS`] and `\u` (an escape could spell part of a marker).
///
/// Every kept record is checked, so this runs over most of a dense scan's JSON. Teddy (the
/// SIMD multi-substring search of `aho-corasick`'s packed searcher) tests all the words in
/// one pass; the keyword prefilter's packed pairs test each word in turn, which with eleven
/// words cost 7% of a dense scan's CPU. Aho-Corasick's automaton ran at a fraction of memory
/// speed here: "essionToken" and "ecretAccessKey" share their first bytes with the
/// `session...` and `access...` keys every record has, so its own prefilter gave up.
enum Markers {
    /// Teddy, where the CPU has the SIMD it needs.
    Teddy(aho_corasick::packed::Searcher),
    /// The keyword prefilter elsewhere (which also answers yes for a `\u` escape).
    Pairs(Prefilter),
}

impl Markers {
    fn new() -> Markers {
        let mut words: Vec<&str> = MARKER_WORDS.to_vec();
        words.push("\\u");
        match aho_corasick::packed::Searcher::new(words) {
            Some(s) => Markers::Teddy(s),
            None => Markers::Pairs(Prefilter::new(MARKER_WORDS, false)),
        }
    }

    /// True when `text` holds a marker word or a `\u` escape.
    fn hit(&self, text: &[u8]) -> bool {
        match self {
            Markers::Teddy(s) => s.find(text).is_some(),
            Markers::Pairs(p) => p.is_candidate(text),
        }
    }
}

static MARKERS: LazyLock<Markers> = LazyLock::new(Markers::new);

/// True when `text` may hold a secret [`redact_secrets`] would hide (a cheap first look): it
/// holds a marker word, or a `\u` escape.
pub fn may_hold_secret(text: &[u8]) -> bool {
    MARKERS.hit(text)
}

/// `text` with every secret it holds replaced, or the text itself when it holds none.
pub fn redact_secrets(text: &str) -> Cow<'_, str> {
    if !may_hold_secret(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    for (start, end) in token_spans(text) {
        let tok = &text[start..end];
        spans.push((start, end, mask(tok, true)));
    }
    for key in SECRET_KEYS {
        for at in find_all(text, key) {
            if let Some(after) = json_key_end(text, at, key.len())
                && let Some((start, end)) = json_string_value(text, after)
            {
                spans.push((start, end, mask(&text[start..end], false)));
            }
        }
    }
    for param in SECRET_PARAMS {
        for at in find_all(text, param) {
            let start = at + param.len();
            let len = text[start..]
                .find(|c: char| {
                    matches!(c, '&' | '"' | '\'' | '\\' | ',' | ';') || c.is_whitespace()
                })
                .unwrap_or(text.len() - start);
            if len > 0 {
                spans.push((start, start + len, mask(&text[start..start + len], false)));
            }
        }
    }
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_by_key(|s| (s.0, std::cmp::Reverse(s.1)));
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, end, replacement) in spans {
        if start < pos {
            continue; // inside a span already replaced
        }
        out.push_str(&text[pos..start]);
        out.push_str(&replacement);
        pos = end;
    }
    out.push_str(&text[pos..]);
    Cow::Owned(out)
}

/// What a secret becomes: for a key, its redacted form (prefix and a few characters); for
/// any other secret, nothing of it; then its fingerprint.
fn mask(secret: &str, is_key: bool) -> String {
    let shown = if is_key {
        redact_candidate(secret)
    } else {
        String::new()
    };
    let shown = shown.split(' ').next().unwrap_or_default();
    format!("{shown}[redacted {}]", fingerprint(secret))
}

/// Byte offsets of every occurrence of `needle`.
fn find_all<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(needle).map(|(i, _)| i)
}

/// Where a JSON key found at `at` (`len` bytes) ends, just past its closing quote, when it
/// is a whole quoted key (`"key"`, or `\"key\"` inside a string).
fn json_key_end(text: &str, at: usize, len: usize) -> Option<usize> {
    let before = &text[..at];
    let after = &text[at + len..];
    if before.ends_with("\\\"") && after.starts_with("\\\"") {
        Some(at + len + 2)
    } else if before.ends_with('"') && after.starts_with('"') {
        Some(at + len + 1)
    } else {
        None
    }
}

/// The content range of the JSON string value after a key ending at `i` (`: "...")`), if
/// one follows.
fn json_string_value(text: &str, i: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut j = i;
    let skip_ws = |j: &mut usize| {
        while *j < b.len() && b[*j].is_ascii_whitespace() {
            *j += 1;
        }
    };
    skip_ws(&mut j);
    if b.get(j) != Some(&b':') {
        return None;
    }
    j += 1;
    skip_ws(&mut j);
    // A key inside a JSON string (`\"sessionToken\":\"...\"`) has escaped quotes around its value.
    let escaped = b.get(j) == Some(&b'\\') && b.get(j + 1) == Some(&b'"');
    let start = if escaped {
        j + 2
    } else if b.get(j) == Some(&b'"') {
        j + 1
    } else {
        return None;
    };
    let mut k = start;
    while k < b.len() {
        match b[k] {
            b'\\' if escaped && b.get(k + 1) == Some(&b'"') => return Some((start, k)),
            b'\\' => k += 2,
            b'"' if !escaped => return Some((start, k)),
            _ => k += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_search_answers_as_the_keyword_prefilter_does() {
        let pairs = Prefilter::new(MARKER_WORDS, false);
        let teddy = Markers::new();
        let filler = r#"{"sessionContext":{"accessKeyId":"ASIAEXAMPLE","sessionIssuer":{}},"userAgent":"aws-sdk/2"}"#;
        let mut texts: Vec<String> = vec![String::new(), "x".into(), filler.into()];
        for w in MARKER_WORDS.iter().chain(&["\\u", "\\n"]) {
            for cut in [0, 1] {
                let part = &w[..w.len() - cut];
                for at in [0, 7, filler.len()] {
                    let mut t = filler.to_string();
                    t.insert_str(at, part);
                    texts.push(t);
                    texts.push(part.to_string());
                }
            }
        }
        for t in &texts {
            assert_eq!(
                teddy.hit(t.as_bytes()),
                pairs.is_candidate(t.as_bytes()),
                "{t}"
            );
        }
        assert!(texts.iter().any(|t| teddy.hit(t.as_bytes())));
        assert!(!teddy.hit(filler.as_bytes()));
    }

    #[test]
    fn key_ids_keep_only_prefix_and_last_four() {
        assert_eq!(redact_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(redact_key_id("short"), "****");
    }

    #[test]
    fn keys_inside_text_keep_their_prefix_and_get_a_fingerprint() {
        let key = "ABSKQmVkcm9ja0FQSUtleS1hYmNkLWF0LTExMTEyMjIyMzMzMzpzZWNyZXRzZWNyZXRzZWNyZXQ=";
        let text = format!("The security token {key} is invalid");
        let out = redact_secrets(&text);
        assert!(!out.contains(key), "{out}");
        assert!(out.starts_with("The security token ABSKQmVkcm9j…[redacted sha256:"));
        assert!(out.ends_with("] is invalid"));
        assert_eq!(
            redact_secrets(&text),
            out,
            "the same key always gives the same text"
        );
    }

    #[test]
    fn json_secrets_lose_their_values_and_stay_valid_json() {
        let rec = r#"{"responseElements":{"credentials":{"accessKeyId":"ASIAEXAMPLEEXAMPLE","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE+/=","secretAccessKey" : "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}}"#;
        let out = redact_secrets(rec);
        assert!(!out.contains("IQoJb3JpZ2luX2VjEXAMPLE"));
        assert!(!out.contains("wJalrXUtnFEMI"));
        assert!(out.contains("ASIAEXAMPLEEXAMPLE"), "ids are not secrets");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(
            v["responseElements"]["credentials"]["sessionToken"]
                .as_str()
                .unwrap()
                .starts_with("[redacted sha256:")
        );
    }

    #[test]
    fn escaped_json_and_presigned_urls_are_redacted() {
        let inner = r#"{"policy":"{\"sessionToken\":\"SECRETSECRET\"}","url":"https://x/?X-Amz-Security-Token=TOKTOK&X-Amz-Signature=abcdef0123&X-Amz-Date=1"}"#;
        let out = redact_secrets(inner);
        for s in ["SECRETSECRET", "TOKTOK", "abcdef0123"] {
            assert!(!out.contains(s), "{s} in {out}");
        }
        assert!(out.contains("X-Amz-Date=1"));
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }

    #[test]
    fn every_secret_form_contains_a_marker() {
        for k in SECRET_KEYS.iter().chain(SECRET_PARAMS) {
            assert!(may_hold_secret(k.as_bytes()), "{k}");
        }
    }

    #[test]
    fn text_without_secrets_is_not_copied() {
        assert!(matches!(
            redact_secrets("AccessDenied for user BedrockAPIKey-x7k2"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(redact_secrets("ABSKILL"), Cow::Borrowed(_)));
    }
}
