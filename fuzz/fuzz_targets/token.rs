//! The Bedrock key decoder on arbitrary text: no panic; a decoded key's printable form never
//! holds the whole key.
#![no_main]

use keytrail::keys::token::{decode, find_tokens, redact_candidate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = decode(&text) {
        let key = text.trim().trim_matches(|c| c == '"' || c == '\'');
        if key.chars().count() > 32 {
            assert!(!t.redacted.contains(key), "redacted form shows the key");
        }
    }
    for f in find_tokens(&text) {
        assert!(f.offset <= text.len());
        if let Ok(t) = f.result {
            assert!(t.redacted.chars().count() < 80);
        }
    }
    let _ = redact_candidate(&text);
});
