//! Serde helpers for Tyk's loose JSON (fields that may be `null`, missing, or of a different numeric type).

use serde::{Deserialize, Deserializer};

/// Deserialize `null` as the type's default, so `"tags": null` loads like a missing field.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Lowercase hex encoding (what Go's `hex.EncodeToString` produces).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}
