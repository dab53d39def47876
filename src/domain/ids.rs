//! Validated identifiers of a ZOLOZ transaction: parse, don't validate. A value of these types
//! has been checked once, at the edge; nothing downstream re-checks it.

use std::fmt;
use std::str::FromStr;

/// Why an identifier was refused: the message says what is wrong, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(pub String);

/// The longest tenant or policy name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` can name a tenant or a policy, in the configuration and in a request alike:
/// 1 to [`MAX_NAME_LEN`] characters of `A-Z a-z 0-9 _ . -`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks a ZOLOZ identifier: 1 to `max` printable ASCII characters, no spaces.
fn printable(s: &str, max: usize) -> Result<String, InvalidId> {
    if s.is_empty() {
        return Err(InvalidId("must not be empty".into()));
    }
    if s.len() > max {
        return Err(InvalidId(format!(
            "must be at most {max} characters (got {})",
            s.chars().count()
        )));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidId("must be printable ASCII without spaces".into()));
    }
    Ok(s.to_string())
}

/// A transaction id: 1 to 64 printable ASCII characters (the documented maximum).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(String);

impl TransactionId {
    /// The maximum length ZOLOZ documents.
    pub const MAX_LEN: usize = 64;

    /// The wire value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TransactionId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        printable(s, Self::MAX_LEN).map(Self)
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A business id: 1 to 32 printable ASCII characters (the documented maximum).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BizId(String);

impl BizId {
    /// The maximum length ZOLOZ documents.
    pub const MAX_LEN: usize = 32;

    /// The wire value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A business id made of 16 bytes (32 hex characters): the caller supplies the randomness,
    /// for products that require a business id when the request gave none.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(hex::encode(bytes))
    }
}

impl FromStr for BizId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        printable(s, Self::MAX_LEN).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!("G0066".parse::<TransactionId>().is_ok());
        assert!("a".repeat(64).parse::<TransactionId>().is_ok());
        assert!("a".repeat(65).parse::<TransactionId>().is_err());
        assert!("has space".parse::<TransactionId>().is_err());
        assert!("é".parse::<TransactionId>().is_err());
        assert!("".parse::<TransactionId>().is_err());
        assert!("b".repeat(33).parse::<BizId>().is_err());
        assert_eq!(BizId::from_random([0xab; 16]).as_str(), "ab".repeat(16));
    }
}
