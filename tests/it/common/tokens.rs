//! Bedrock API keys built for the tests: long-term keys from known fields, short-term keys
//! SigV4-presigned with fixed fake credentials the way the aws-bedrock-token-generator
//! libraries make them.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The fake secret access key every short-term test key is signed with.
pub const FAKE_SECRET: &str = "keytrail/TEST/secret/access/key/0000000000";
/// The fake session token of session-signed test keys.
pub const FAKE_SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEKeytrailFakeSessionToken0123456789+/abcdefghij==";

/// A long-term key: `ABSK` + base64(`<ident>:<base64 of 44 secret bytes>`), and its secret.
pub fn long_term(ident: &str, seed: u8) -> (String, String) {
    let secret: Vec<u8> = (0..44u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(seed))
        .collect();
    let secret_b64 = STANDARD.encode(secret);
    let token = format!("ABSK{}", STANDARD.encode(format!("{ident}:{secret_b64}")));
    (token, secret_b64)
}

/// A presigned short-term key and its parts that must never be printed.
pub struct ShortTerm {
    pub token: String,
    pub signature: String,
    pub session_token: Option<String>,
}

/// Percent-encodes a query value as SigV4 does (RFC 3986 unreserved kept).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Presigns `CallWithBearerToken` for `region` at `time`, then encodes it as a key.
pub fn short_term(
    access_key_id: &str,
    session: bool,
    region: &str,
    time: SystemTime,
    expires: u64,
) -> ShortTerm {
    let session_token = session.then(|| FAKE_SESSION_TOKEN.to_string());
    let creds = Credentials::new(
        access_key_id,
        FAKE_SECRET,
        session_token.clone(),
        None,
        "keytrail-test",
    );
    let identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(time)
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let url = "https://bedrock.amazonaws.com/?Action=CallWithBearerToken";
    let req = SignableRequest::new(
        "POST",
        url,
        std::iter::once(("host", "bedrock.amazonaws.com")),
        SignableBody::Bytes(&[]),
    )
    .expect("signable request");
    let (instructions, signature) = sign(req, &params).expect("sign").into_parts();
    let mut presigned = url.trim_start_matches("https://").to_string();
    for (k, v) in instructions.params() {
        presigned.push_str(&format!("&{k}={}", encode(v)));
    }
    presigned.push_str("&Version=1");
    ShortTerm {
        token: format!("bedrock-api-key-{}", STANDARD.encode(presigned)),
        signature,
        session_token,
    }
}

/// A time given as RFC 3339.
pub fn at(rfc3339: &str) -> SystemTime {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).expect("time");
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp() as u64)
}
