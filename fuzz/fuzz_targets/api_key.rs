//! The API-key format: `ApiKeyFormat::parse` and `looks_like_key` on arbitrary strings.
//!
//! Must never panic. When `parse` accepts, the key must be exactly what `mint` produces:
//! `osk_<live|test>_` + 32 base62 characters + 6 base62 characters that are the CRC32 (IEEE) of
//! everything before them, re-encoded here independently of the crate; the environment must be
//! the one named; `looks_like_key` must agree; another prefix must refuse it; and every
//! single-character change of the secret or checksum must be refused (CRC32 catches every
//! error confined to 32 consecutive bits).
//!
//! Input: the bytes as UTF-8 (invalid sequences replaced, so the fuzzer still reaches `parse`).

#![no_main]

use std::sync::OnceLock;

use assimetria_auth::api_key::{ApiKeyFormat, Environment};
use libfuzzer_sys::fuzz_target;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SECRET_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;

fn formats() -> &'static (ApiKeyFormat, ApiKeyFormat) {
    static FORMATS: OnceLock<(ApiKeyFormat, ApiKeyFormat)> = OnceLock::new();
    FORMATS.get_or_init(|| {
        (
            ApiKeyFormat::new("osk").expect("osk"),
            ApiKeyFormat::new("acme").expect("acme"),
        )
    })
}

/// CRC-32/ISO-HDLC (the zlib one), bit by bit: an oracle independent of `crc32fast`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn base62_fixed(mut value: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for d in out.iter_mut().rev() {
        *d = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

fn check(key: &str) {
    let (osk, acme) = formats();
    let looks = osk.looks_like_key(key);
    assert_eq!(looks, key.starts_with("osk_"), "looks_like_key({key:?})");
    let _ = acme.looks_like_key(key);
    let _ = acme.parse(key);

    let Ok(parsed) = osk.parse(key) else {
        return;
    };
    assert!(looks, "{key:?} parses but does not look like a key");
    assert!(
        acme.parse(key).is_err(),
        "{key:?} parses under another prefix"
    );
    let env = match parsed.environment() {
        Environment::Live => "live",
        Environment::Test => "test",
    };
    let head = format!("osk_{env}_");
    assert!(key.starts_with(&head), "{key:?} parsed as {env}");
    let bytes = key.as_bytes();
    assert_eq!(
        bytes.len(),
        head.len() + SECRET_LEN + CHECKSUM_LEN,
        "{key:?}"
    );
    let tail = &bytes[head.len()..];
    assert!(
        tail.iter().all(|b| BASE62.contains(b)),
        "{key:?} has characters outside base62"
    );
    let body = &bytes[..bytes.len() - CHECKSUM_LEN];
    assert_eq!(
        &bytes[body.len()..],
        &base62_fixed(crc32(body)),
        "{key:?}: checksum is not the base62 CRC32 of the rest"
    );

    // Every single-character change of the secret or the checksum is refused.
    let mut changed = bytes.to_vec();
    for i in head.len()..bytes.len() {
        for replacement in [b'0', b'Z', b'z', b'_'] {
            if bytes[i] == replacement {
                continue;
            }
            changed[i] = replacement;
            let s = std::str::from_utf8(&changed).expect("ASCII");
            assert!(
                osk.parse(s).is_err(),
                "{key:?} changed at {i} to {s:?} still parses"
            );
            changed[i] = bytes[i];
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(&String::from_utf8_lossy(data));
});
