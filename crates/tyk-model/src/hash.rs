//! Tyk's key hashing: `apikey-<hash>` where hash is lowercase hex of the digest.
//!
//! Matches Tyk's `internal/crypto/hash.go` and the `murmur3` Go package it uses (seed 0):
//! murmur32 → 4 bytes big-endian (8 hex chars), murmur64 → the first 64-bit half of
//! murmur3-x64-128, big-endian (16 hex chars), murmur128 → both halves h1‖h2 big-endian (32 hex chars),
//! sha256 → 64 hex chars. An unknown algorithm name falls back to murmur32, as in Tyk's `hashFunction`.

use sha2::{Digest, Sha256};

use crate::util::to_hex;

/// A key hashing algorithm, as named in Tyk's `hash_key_function` and in the `h` field of generated tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgo {
    /// `murmur32` (also the empty name): Tyk's legacy default.
    #[default]
    Murmur32,
    /// `murmur64`.
    Murmur64,
    /// `murmur128`.
    Murmur128,
    /// `sha256`.
    Sha256,
}

impl HashAlgo {
    /// Parse an algorithm name strictly; `None` for names Tyk does not know.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "" | "murmur32" => Some(Self::Murmur32),
            "murmur64" => Some(Self::Murmur64),
            "murmur128" => Some(Self::Murmur128),
            "sha256" => Some(Self::Sha256),
            _ => None,
        }
    }

    /// Parse like Tyk does at hashing time (`hashFunction` in `internal/crypto/hash.go`): unknown names
    /// fall back to murmur32. (Tyk's `GenerateToken` writes `murmur64` into a token when configured with
    /// an unknown name, so such tokens never carry one; a hand-made token may.)
    pub fn parse_lenient(name: &str) -> Self {
        Self::parse(name).unwrap_or(Self::Murmur32)
    }

    /// The name Tyk uses for this algorithm.
    pub fn name(self) -> &'static str {
        match self {
            Self::Murmur32 => "murmur32",
            Self::Murmur64 => "murmur64",
            Self::Murmur128 => "murmur128",
            Self::Sha256 => "sha256",
        }
    }

    /// Hash `data` and return lowercase hex, formatted exactly as Tyk does.
    pub fn hex_digest(self, data: &[u8]) -> String {
        match self {
            Self::Murmur32 => to_hex(&murmur3_32(data, 0).to_be_bytes()),
            Self::Murmur64 => to_hex(&murmur3_x64_128(data, 0).0.to_be_bytes()),
            Self::Murmur128 => {
                let (h1, h2) = murmur3_x64_128(data, 0);
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&h1.to_be_bytes());
                b[8..].copy_from_slice(&h2.to_be_bytes());
                to_hex(&b)
            }
            Self::Sha256 => to_hex(&Sha256::digest(data)),
        }
    }
}

/// Hash a token the way Tyk's `HashStr` does: the algorithm is taken from the token itself when it is a
/// generated base64-JSON token (`{"h": ..}`), otherwise murmur32.
pub fn hash_token(token: &str) -> String {
    let algo =
        crate::token::token_hash_algo_with(token, HashAlgo::parse_lenient).unwrap_or_default();
    algo.hex_digest(token.as_bytes())
}

/// Tyk's `HashKey`: the storage name of a token, hashed or (with `hash_keys = false`) the raw token.
pub fn hash_key(token: &str, hash_keys: bool) -> String {
    if hash_keys {
        hash_token(token)
    } else {
        token.to_string()
    }
}

/// MurmurHash3 x86 32-bit.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    let mut k: u32 = 0;
    for (i, b) in tail.iter().enumerate() {
        k ^= (*b as u32) << (8 * i);
    }
    if !tail.is_empty() {
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// MurmurHash3 x64 128-bit, returned as `(h1, h2)`.
pub fn murmur3_x64_128(data: &[u8], seed: u32) -> (u64, u64) {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let mut h1 = seed as u64;
    let mut h2 = seed as u64;
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let mut k1 = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
        let mut k2 = u64::from_le_bytes(c[8..].try_into().unwrap_or_default());
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = chunks.remainder();
    let mut k1: u64 = 0;
    let mut k2: u64 = 0;
    for (i, b) in tail.iter().enumerate() {
        if i < 8 {
            k1 ^= (*b as u64) << (8 * i);
        } else {
            k2 ^= (*b as u64) << (8 * (i - 8));
        }
    }
    if tail.len() > 8 {
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
    }
    if !tail.is_empty() {
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference vectors from the Go murmur3 package Tyk uses (seed 0 and 1).
    const VECTORS: &[(u32, u32, u64, u64, &str)] = &[
        (0, 0x0000_0000, 0, 0, ""),
        (
            0,
            0x248b_fa47,
            0xcbd8_a7b3_41bd_9b02,
            0x5b1e_906a_48ae_1d19,
            "hello",
        ),
        (
            0,
            0x149b_bb7f,
            0x342f_ac62_3a5e_bc8e,
            0x4cdc_bc07_9642_414d,
            "hello, world",
        ),
        (
            0,
            0xe31e_8a70,
            0xb89e_5988_b737_affc,
            0x664f_c295_0231_b2cb,
            "19 Jan 2038 at 3:14:07 AM",
        ),
        (
            0,
            0xd5c4_8bfc,
            0xcd99_481f_9ee9_02c9,
            0x695d_a1a3_8987_b6e7,
            "The quick brown fox jumps over the lazy dog.",
        ),
        (
            1,
            0xbb4a_bcad,
            0xa78d_dff5_adae_8d10,
            0x1289_00ef_2090_0135,
            "hello",
        ),
    ];

    #[test]
    fn murmur_matches_go_reference() {
        for (seed, h32, h1, h2, s) in VECTORS {
            assert_eq!(murmur3_32(s.as_bytes(), *seed), *h32, "{s}");
            assert_eq!(murmur3_x64_128(s.as_bytes(), *seed), (*h1, *h2), "{s}");
        }
    }

    #[test]
    fn hex_formatting_matches_tyk() {
        assert_eq!(HashAlgo::Murmur32.hex_digest(b"hello"), "248bfa47");
        assert_eq!(HashAlgo::Murmur32.hex_digest(b""), "00000000");
        assert_eq!(HashAlgo::Murmur64.hex_digest(b"hello"), "cbd8a7b341bd9b02");
        assert_eq!(
            HashAlgo::Murmur128.hex_digest(b"hello"),
            "cbd8a7b341bd9b025b1e906a48ae1d19"
        );
        assert_eq!(
            HashAlgo::Sha256.hex_digest(b"hello"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn plain_tokens_and_unknown_algorithms_use_murmur32() {
        assert_eq!(hash_token("hello"), "248bfa47");
        assert_eq!(hash_key("hello", false), "hello");
        assert_eq!(HashAlgo::parse_lenient("md5"), HashAlgo::Murmur32);
        // A token naming an unknown algorithm is hashed with murmur32, as Tyk's HashStr does.
        let t = crate::token::generate_token("org", "abc", None);
        assert_eq!(hash_token(&t), HashAlgo::Murmur32.hex_digest(t.as_bytes()));
        let odd = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            r#"{"org":"o","id":"i","h":"md5"}"#,
        );
        assert_eq!(
            hash_token(&odd),
            HashAlgo::Murmur32.hex_digest(odd.as_bytes())
        );
        assert_eq!(HashAlgo::parse(""), Some(HashAlgo::Murmur32));
    }

    #[test]
    fn generated_tokens_carry_their_algorithm() {
        for algo in [HashAlgo::Murmur64, HashAlgo::Murmur128, HashAlgo::Sha256] {
            let t = crate::token::generate_token("org", "abc", Some(algo));
            assert_eq!(hash_token(&t), algo.hex_digest(t.as_bytes()));
        }
    }
}
