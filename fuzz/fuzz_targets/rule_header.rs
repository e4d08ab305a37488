//! The rule file parser (`-- id:` header lines, then SQL) on arbitrary text: no panic; a rule
//! it accepts has a valid id, a severity and SQL.
#![no_main]

use keytrail::rules::parse_rule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rule) = parse_rule(text, "fuzz") {
        assert!(!rule.id.is_empty());
        assert!(rule.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'));
        assert!(!rule.sql.is_empty());
    }
});
