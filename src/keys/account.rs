//! What an AWS access key id says offline: its kind (session or user key) and the account
//! it belongs to, decoded from the id itself (the method trufflehog's `GetAccountNumFromID`
//! uses; ids whose fifth character is `I` or `J` predate it and do not carry the account).

/// The kind of access key an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIdKind {
    /// `ASIA...`: temporary credentials from STS.
    Session,
    /// `AKIA...`: an IAM user's long-term access key.
    UserKey,
    Other,
}

impl KeyIdKind {
    /// The kind of an access key id, by its prefix.
    pub fn of(id: &str) -> KeyIdKind {
        if id.starts_with("ASIA") {
            KeyIdKind::Session
        } else if id.starts_with("AKIA") {
            KeyIdKind::UserKey
        } else {
            KeyIdKind::Other
        }
    }
}

/// Why an access key id does not give its account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{0:?} is too short to be an access key id")]
    TooShort(String),
    #[error("{0}… is an older (AKIAI/AKIAJ-era) key id, which does not encode its account")]
    OldFormat(String),
    #[error("{0}… is not base32 after its prefix")]
    NotBase32(String),
}

/// The 12-digit account id encoded in an access key id.
pub fn account_from_key_id(id: &str) -> Result<String, AccountError> {
    let b = id.as_bytes();
    if b.len() < 16 || !id.is_ascii() {
        return Err(AccountError::TooShort(id.to_string()));
    }
    if matches!(b[4], b'I' | b'J') {
        return Err(AccountError::OldFormat(id[..5].to_string()));
    }
    let bytes = base32(&id[4..]).ok_or_else(|| AccountError::NotBase32(id[..4].to_string()))?;
    if bytes.len() < 6 {
        return Err(AccountError::TooShort(id.to_string()));
    }
    let mut z = [0u8; 8];
    z[2..].copy_from_slice(&bytes[..6]);
    let account = (u64::from_be_bytes(z) & 0x7fff_ffff_ff80) >> 7;
    Ok(format!("{account:012}"))
}

/// Decodes RFC 4648 base32 without padding (upper or lower case); None on a bad character.
fn base32(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in s.bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buf = (buf << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_read_from_a_modern_key_id() {
        // The example of the write-up trufflehog cites.
        assert_eq!(
            account_from_key_id("ASIAQNZGKIQY56JQ7WML").unwrap(),
            "029608264753"
        );
    }

    #[test]
    fn old_key_ids_and_garbage_are_refused_with_a_reason() {
        assert!(matches!(
            account_from_key_id("AKIAIOSFODNN7EXAMPLE"),
            Err(AccountError::OldFormat(_))
        ));
        assert!(matches!(
            account_from_key_id("AKIA"),
            Err(AccountError::TooShort(_))
        ));
        assert!(matches!(
            account_from_key_id("AKIAQ1111111111111"),
            Err(AccountError::NotBase32(_))
        ));
    }

    #[test]
    fn key_kinds_follow_the_prefix() {
        assert_eq!(KeyIdKind::of("ASIAXYZ"), KeyIdKind::Session);
        assert_eq!(KeyIdKind::of("AKIAXYZ"), KeyIdKind::UserKey);
        assert_eq!(KeyIdKind::of("ABSK"), KeyIdKind::Other);
    }
}
