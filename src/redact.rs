//! Redaction of secrets before anything is printed: keys, tokens and signatures never
//! appear in full in output or logs.

/// An access key id with its middle hidden: `AKIA…WXYZ` (the prefix tells the key type).
pub fn redact_key_id(id: &str) -> String {
    if id.len() <= 8 || !id.is_ascii() {
        return "****".to_string();
    }
    format!("{}…{}", &id[..4], &id[id.len() - 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_keep_only_prefix_and_last_four() {
        assert_eq!(redact_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(redact_key_id("short"), "****");
    }
}
