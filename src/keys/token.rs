//! Bedrock API key tokens decoded offline, and found inside text.
//!
//! A long-term key is `ABSK` + base64(`<iam-user>[+1]-at-<account>:<base64 secret>`); a
//! short-term key is `bedrock-api-key-` + base64 of a SigV4-presigned `CallWithBearerToken`
//! URL. Claude Platform keys (`AEAA...`, `aws-external-anthropic-api-key-...`) are read the
//! same way and labelled as such. Nothing here ever keeps or shows the secret, the
//! signature or the session token: only their presence, lengths and a fingerprint.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

use super::account::{KeyIdKind, account_from_key_id};

/// Prefix of a long-term Bedrock API key.
pub const BEDROCK_LONG_PREFIX: &str = "ABSK";
/// Prefix of a short-term Bedrock API key.
pub const BEDROCK_SHORT_PREFIX: &str = "bedrock-api-key-";
/// Prefix of a long-term Claude Platform (on AWS) key.
pub const CLAUDE_LONG_PREFIX: &str = "AEAA";
/// Prefix of a short-term Claude Platform (on AWS) key.
pub const CLAUDE_SHORT_PREFIX: &str = "aws-external-anthropic-api-key-";
/// A short-term key lives at most 12 hours whatever `X-Amz-Expires` says.
pub const MAX_SHORT_TERM_SECONDS: i64 = 43_200;
/// Bytes of a long-term key's secret.
pub const SECRET_BYTES: usize = 44;
/// Fewest characters after a long-term prefix for text to be taken for a key.
const MIN_LONG_BODY: usize = 24;
/// Characters of the encoded body shown in a redacted token.
const SHOWN_BODY: usize = 8;

/// Which product a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    /// Amazon Bedrock API key.
    Bedrock,
    /// Claude Platform on AWS (`aws-external-anthropic`): not a Bedrock key.
    ClaudePlatform,
}

impl Product {
    /// The product's name for people.
    pub fn label(self) -> &'static str {
        match self {
            Product::Bedrock => "Amazon Bedrock API key",
            Product::ClaudePlatform => "Claude Platform on AWS key (not a Bedrock key)",
        }
    }
}

/// Why a token could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("empty token")]
    Empty,
    #[error(
        "not a Bedrock API key: it does not start with ABSK, bedrock-api-key-, AEAA or aws-external-anthropic-api-key-"
    )]
    UnknownPrefix,
    #[error("nothing after the {0} prefix: the key is truncated")]
    NoBody(&'static str),
    #[error(
        "the part after {prefix} is not valid base64 ({detail}): the key is truncated or altered"
    )]
    BadBase64 {
        prefix: &'static str,
        detail: String,
    },
    #[error("the decoded {prefix} key is not `<user>-at-<account>:<secret>`: {detail}")]
    LongTermShape {
        prefix: &'static str,
        detail: String,
    },
    #[error("the decoded {prefix} token is not a presigned CallWithBearerToken URL: {detail}")]
    ShortTermShape {
        prefix: &'static str,
        detail: String,
    },
}

/// A decoded long-term key: whose it is, never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongTermKey {
    pub product: Product,
    /// The IAM user the key belongs to.
    pub user_name: String,
    /// True for the user's second key (`+1` after the user name).
    pub secondary: bool,
    pub account_id: String,
    /// `<user>[+1]-at-<account>`: the credential's service user name in IAM.
    pub service_user_name: String,
    /// Bytes of the decoded secret (44 in every key seen so far).
    pub secret_bytes: usize,
}

/// A decoded short-term key: who signed it, where and when, never the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortTermKey {
    pub product: Product,
    /// The signing access key id (`ASIA...` or `AKIA...`).
    pub access_key_id: String,
    pub region: String,
    /// The SigV4 service in the credential scope (`bedrock`).
    pub service: String,
    /// `X-Amz-Date`, micros since the epoch.
    pub issued_at: i64,
    /// `X-Amz-Expires` as written (None: absent, the 12 h default applies).
    pub expires_param: Option<i64>,
    /// `X-Amz-Security-Token` is present (session credentials signed it).
    pub session_token: bool,
    /// Something looks cut off (no `Version=1`), though the parts needed were read.
    pub truncation_hint: Option<String>,
}

impl ShortTermKey {
    /// Seconds the key is valid: `X-Amz-Expires` (default and cap: 12 h).
    pub fn lifetime_seconds(&self) -> i64 {
        self.expires_param
            .unwrap_or(MAX_SHORT_TERM_SECONDS)
            .clamp(0, MAX_SHORT_TERM_SECONDS)
    }

    /// When the key stops working at the latest, micros since the epoch.
    pub fn expires_at(&self) -> i64 {
        self.issued_at + self.lifetime_seconds() * 1_000_000
    }
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    LongTerm(LongTermKey),
    ShortTerm(ShortTermKey),
}

/// A decoded token with what may be shown of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub decoded: Decoded,
    /// `sha256:` and the first 16 hex digits of the SHA-256 of the whole token.
    pub fingerprint: String,
    /// The prefix and a few encoded characters, then the length: safe to print.
    pub redacted: String,
    /// Characters in the token.
    pub length: usize,
}

impl Token {
    /// The account the key belongs to, when it can be told offline.
    pub fn account_id(&self) -> Option<String> {
        match &self.decoded {
            Decoded::LongTerm(k) => Some(k.account_id.clone()),
            Decoded::ShortTerm(k) => account_from_key_id(&k.access_key_id).ok(),
        }
    }

    /// Which product the key is for.
    pub fn product(&self) -> Product {
        match &self.decoded {
            Decoded::LongTerm(k) => k.product,
            Decoded::ShortTerm(k) => k.product,
        }
    }
}

/// The kinds of token, by prefix.
const PREFIXES: &[(&str, Product, bool)] = &[
    (BEDROCK_SHORT_PREFIX, Product::Bedrock, false),
    (CLAUDE_SHORT_PREFIX, Product::ClaudePlatform, false),
    (BEDROCK_LONG_PREFIX, Product::Bedrock, true),
    (CLAUDE_LONG_PREFIX, Product::ClaudePlatform, true),
];

/// Decodes one token (surrounding whitespace and quotes are ignored).
pub fn decode(raw: &str) -> Result<Token, TokenError> {
    let t = raw.trim().trim_matches(|c| c == '"' || c == '\'');
    if t.is_empty() {
        return Err(TokenError::Empty);
    }
    let (prefix, product, long) = PREFIXES
        .iter()
        .find(|(p, _, _)| t.starts_with(p))
        .copied()
        .ok_or(TokenError::UnknownPrefix)?;
    let body = &t[prefix.len()..];
    if body.is_empty() {
        return Err(TokenError::NoBody(prefix));
    }
    let bytes = b64(body).map_err(|detail| TokenError::BadBase64 { prefix, detail })?;
    let decoded = if long {
        Decoded::LongTerm(long_term(prefix, product, &bytes)?)
    } else {
        Decoded::ShortTerm(short_term(prefix, product, &bytes)?)
    };
    Ok(Token {
        decoded,
        fingerprint: fingerprint(t),
        redacted: redact(prefix, body),
        length: t.chars().count(),
    })
}

/// `sha256:` and 16 hex digits: the same key gives the same fingerprint in every report.
pub fn fingerprint(token: &str) -> String {
    let h = Sha256::digest(token.as_bytes());
    let hex: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A safe view of text that failed to decode: a known prefix and a few characters, or only
/// the first 4 characters of anything else (it may be another product's secret).
pub fn redact_candidate(s: &str) -> String {
    match PREFIXES.iter().find(|(p, _, _)| s.starts_with(p)) {
        Some((p, _, _)) => redact(p, &s[p.len()..]),
        None => format!(
            "{}… ({} chars)",
            s.chars().take(4).collect::<String>(),
            s.chars().count()
        ),
    }
}

/// The prefix, a few encoded characters (the user name's start for ABSK keys), the length.
fn redact(prefix: &str, body: &str) -> String {
    let shown: String = body.chars().take(SHOWN_BODY).collect();
    format!(
        "{prefix}{shown}… ({} chars)",
        prefix.len() + body.chars().count()
    )
}

/// Decodes standard base64 with or without padding (also URL-escaped `+`, `/`, `=`).
fn b64(body: &str) -> Result<Vec<u8>, String> {
    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let std = GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
    let unescaped = body
        .replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%3D", "=")
        .replace("%3d", "=");
    std.decode(unescaped.as_bytes()).map_err(|e| e.to_string())
}

/// Reads `<user>[+1]-at-<account>:<base64 secret>`.
fn long_term(
    prefix: &'static str,
    product: Product,
    bytes: &[u8],
) -> Result<LongTermKey, TokenError> {
    let shape = |detail: &str| TokenError::LongTermShape {
        prefix,
        detail: detail.to_string(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| shape("it is not text"))?;
    let (ident, secret) = text
        .split_once(':')
        .ok_or_else(|| shape("no `:` before the secret (truncated?)"))?;
    let (user, account) = ident
        .rsplit_once("-at-")
        .ok_or_else(|| shape("no `-at-<account>` after the user name"))?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(shape("the account after `-at-` is not 12 digits"));
    }
    let (user_name, secondary) = match user.strip_suffix("+1") {
        Some(u) => (u, true),
        None => (user, false),
    };
    if user_name.is_empty() || !user_name.chars().all(is_iam_name_char) {
        return Err(shape(
            "the user name is empty or has characters IAM does not allow",
        ));
    }
    let secret_bytes = b64(secret.trim())
        .map_err(|_| shape("the secret after `:` is not base64 (truncated?)"))?
        .len();
    if secret_bytes < SECRET_BYTES {
        return Err(shape(&format!(
            "the secret after `:` is {secret_bytes} bytes where keys have {SECRET_BYTES}: the key is truncated"
        )));
    }
    Ok(LongTermKey {
        product,
        user_name: user_name.to_string(),
        secondary,
        account_id: account.to_string(),
        service_user_name: ident.to_string(),
        secret_bytes,
    })
}

/// Characters IAM allows in user names.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// Reads the presigned URL: credential scope, date, expiry, token presence.
fn short_term(
    prefix: &'static str,
    product: Product,
    bytes: &[u8],
) -> Result<ShortTermKey, TokenError> {
    let shape = |detail: String| TokenError::ShortTermShape { prefix, detail };
    let text = std::str::from_utf8(bytes).map_err(|_| shape("it is not text".into()))?;
    let query = text
        .split_once('?')
        .map(|(_, q)| q)
        .ok_or_else(|| shape("no `?` query string".into()))?;
    let params = parse_query(query);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    // Claude Platform's presigned action is not documented: only Bedrock's is checked.
    if product == Product::Bedrock && get("Action").is_some_and(|a| a != "CallWithBearerToken") {
        return Err(shape(format!(
            "Action is {:?}, not CallWithBearerToken",
            get("Action").unwrap_or_default()
        )));
    }
    let cred = get("X-Amz-Credential").ok_or_else(|| shape("no X-Amz-Credential".into()))?;
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" {
        return Err(shape(format!(
            "X-Amz-Credential is not <key id>/<date>/<region>/<service>/aws4_request (has {} parts)",
            parts.len()
        )));
    }
    let date = get("X-Amz-Date").ok_or_else(|| shape("no X-Amz-Date".into()))?;
    let issued_at = NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| shape(format!("X-Amz-Date {date:?} is not yyyymmddThhmmssZ")))?
        .and_utc()
        .timestamp_micros();
    let signature = get("X-Amz-Signature").ok_or_else(|| {
        shape("no X-Amz-Signature: the token is truncated (it ends before the signature)".into())
    })?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(shape(format!(
            "the signature is {} characters, not 64 hex digits: the token is truncated or altered",
            signature.len()
        )));
    }
    let expires_param = match get("X-Amz-Expires") {
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| shape(format!("X-Amz-Expires {v:?} is not a number")))?,
        ),
        None => None,
    };
    let truncation_hint = get("Version")
        .is_none()
        .then(|| "no `Version=1` parameter: the token may be cut short".to_string());
    Ok(ShortTermKey {
        product,
        access_key_id: parts[0].to_string(),
        region: parts[2].to_string(),
        service: parts[3].to_string(),
        issued_at,
        expires_param,
        session_token: get("X-Amz-Security-Token").is_some_and(|v| !v.is_empty()),
        truncation_hint,
    })
}

/// Splits a query string into percent-decoded name/value pairs.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` as a space, as form encoding does).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A token-like string found in text: where it is and what decoding it gave.
#[derive(Debug, Clone)]
pub struct Found {
    /// Byte offset in the text.
    pub offset: usize,
    /// 1-based line number in the text.
    pub line: usize,
    pub result: Result<Token, TokenError>,
}

/// Finds every key in `text` (config lines, logs, JSON), decoded or with the reason it
/// cannot be. Long-term prefixes count only at a word start and with a long enough body.
pub fn find_tokens(text: &str) -> Vec<Found> {
    token_spans(text)
        .into_iter()
        .map(|(start, end)| Found {
            offset: start,
            line: 1 + text.as_bytes()[..start]
                .iter()
                .filter(|c| **c == b'\n')
                .count(),
            result: decode(&text[start..end]),
        })
        .collect()
}

/// Where key-like strings are in `text`, as byte ranges `(start, end)`: a known prefix
/// (`ABSK`, `bedrock-api-key-`, and Claude Platform's) at a word start, followed by key
/// characters (at least 24 of them after a long-term prefix).
pub fn token_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let Some((prefix, long)) = PREFIXES
            .iter()
            .find(|(p, _, _)| b[i..].starts_with(p.as_bytes()))
            .map(|(p, _, l)| (*p, *l))
        else {
            i += 1;
            continue;
        };
        let at_word_start =
            i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b"+/".contains(&b[i - 1]));
        let body_len = b[i + prefix.len()..]
            .iter()
            .take_while(|c| is_token_char(**c))
            .count();
        let end = i + prefix.len() + body_len;
        if !at_word_start || (long && body_len < MIN_LONG_BODY) {
            i += 1;
            continue;
        }
        out.push((i, end));
        i = end;
    }
    out
}

/// Characters a token is made of (base64, `=`, and `%` for URL-escaped copies).
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'%')
}

/// What the signing access key id says about the signer.
pub fn signer_meaning(access_key_id: &str) -> &'static str {
    match KeyIdKind::of(access_key_id) {
        KeyIdKind::Session => "STS session credentials (an assumed role, federated or SSO session)",
        KeyIdKind::UserKey => "an IAM user's own long-term access key",
        KeyIdKind::Other => "an unrecognized access key id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn absk(ident: &str) -> String {
        let secret = STANDARD.encode([7u8; 44]);
        format!("ABSK{}", STANDARD.encode(format!("{ident}:{secret}")))
    }

    fn short(query: &str) -> String {
        format!(
            "bedrock-api-key-{}",
            STANDARD.encode(format!("bedrock.amazonaws.com/?{query}"))
        )
    }

    const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_long_term_key_gives_user_slot_account_and_secret_length() {
        let t = decode(&absk("BedrockAPIKey-x7k2+1-at-111122223333")).unwrap();
        let Decoded::LongTerm(k) = &t.decoded else {
            panic!("long-term")
        };
        assert_eq!(k.user_name, "BedrockAPIKey-x7k2");
        assert!(k.secondary);
        assert_eq!(k.account_id, "111122223333");
        assert_eq!(k.secret_bytes, 44);
        assert!(t.fingerprint.starts_with("sha256:") && t.fingerprint.len() == 23);
        assert!(t.redacted.starts_with("ABSKQmVkcm9j…"));
    }

    #[test]
    fn a_short_term_key_gives_signer_region_and_times() {
        let q = format!(
            "Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAQNZGKIQY56JQ7WML%2F20261119%2Feu-central-1%2Fbedrock%2Faws4_request&X-Amz-Date=20261119T091500Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FwoG%2Fxyz&X-Amz-Signature={SIG}&Version=1"
        );
        let t = decode(&short(&q)).unwrap();
        let Decoded::ShortTerm(k) = &t.decoded else {
            panic!("short-term")
        };
        assert_eq!(k.access_key_id, "ASIAQNZGKIQY56JQ7WML");
        assert_eq!(k.region, "eu-central-1");
        assert!(k.session_token);
        assert_eq!(k.lifetime_seconds(), 43_200, "capped at 12 h");
        assert_eq!(
            crate::timefmt::format_micros(k.expires_at()),
            "2026-11-19T21:15:00Z"
        );
        assert_eq!(t.account_id().as_deref(), Some("029608264753"));
    }

    #[test]
    fn malformed_keys_say_what_is_wrong() {
        assert_eq!(decode("  "), Err(TokenError::Empty));
        assert_eq!(decode("sk-ant-123"), Err(TokenError::UnknownPrefix));
        assert!(matches!(decode("ABSK"), Err(TokenError::NoBody(_))));
        assert!(matches!(
            decode("ABSK!!!!"),
            Err(TokenError::BadBase64 { .. })
        ));
        let cut = absk("BedrockAPIKey-x7k2-at-111122223333");
        let e = decode(&cut[..40]).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let no_sig = short(
            "Action=CallWithBearerToken&X-Amz-Credential=AKIAEXAMPLE%2F20261119%2Fus-east-1%2Fbedrock%2Faws4_request&X-Amz-Date=20261119T091500Z",
        );
        let e = decode(&no_sig).unwrap_err().to_string();
        assert!(e.contains("no X-Amz-Signature"), "{e}");
    }

    #[test]
    fn tokens_are_found_inside_text_and_words_are_not_keys() {
        let key = absk("ci-bot-at-111122223333");
        let text = format!(
            "ABSKILLED is a word\nexport AWS_BEARER_TOKEN_BEDROCK={key}\nxABSK{}\n",
            "A".repeat(40)
        );
        let found = find_tokens(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, 2);
        assert!(found[0].result.is_ok());
    }

    #[test]
    fn claude_platform_keys_are_labelled() {
        let secret = STANDARD.encode([1u8; 44]);
        let k = format!(
            "AEAA{}",
            STANDARD.encode(format!("claude-user-at-444455556666:{secret}"))
        );
        assert_eq!(decode(&k).unwrap().product(), Product::ClaudePlatform);
        let q = format!(
            "aws-external-anthropic.amazonaws.com/?Action=CallWithToken&X-Amz-Credential=ASIAQNZGKIQY56JQ7WML%2F20261119%2Fus-east-1%2Faws-external-anthropic%2Faws4_request&X-Amz-Date=20261119T091500Z&X-Amz-Signature={SIG}&Version=1"
        );
        let short = format!("aws-external-anthropic-api-key-{}", STANDARD.encode(q));
        let t = decode(&short).unwrap();
        assert_eq!(t.product(), Product::ClaudePlatform);
        assert!(matches!(t.decoded, Decoded::ShortTerm(_)));
    }
}
