//! Stored password hashes, this crate's argon2 and the schemes of the systems users are imported
//! from, parsed into a typed [`Scheme`] with their costs checked.
//!
//! The same parse serves an import ([`PasswordHasher::check_imported_hash`], which computes
//! nothing) and a login ([`PasswordHasher::verify`], which computes on the hashing workers), so a
//! hash accepted at import is one a login can verify, and a stored hash outside the bounds (a
//! tampered or foreign row) is a wrong password answered at once, without the work it asks for.
//! After a successful login [`PasswordHasher::needs_rehash`] is true for every scheme but the
//! configured argon2id, so legacy hashes are replaced by argon2id one login at a time.
//!
//! | scheme | accepted form | bounds |
//! | --- | --- | --- |
//! | argon2id, argon2i, argon2d | PHC `$argon2id$v=19$m=…,t=…,p=…$salt$hash` (`v=16` or no `v` for 0x10) | memory ≤ 256 MiB (the workers' cap) and memory × iterations ≤ 1 GiB·pass ([`Argon2Params::MAX_WORK_KIB`]); salt 8..=48 bytes, output 10..=64 bytes (PHC's limits) |
//! | bcrypt | `$2a$`, `$2b$`, `$2y$` + 2-digit cost + 53 characters (60 in all) | cost 4..=14; `$2x$` (the buggy pre-2011 crypt_blowfish) and other prefixes are refused |
//! | scrypt | PHC `$scrypt$ln=…,r=…,p=…$salt$hash` | `ln` 1..=20, `p` 1..=16, memory 128·r·2^ln ≤ 64 MiB, work 128·r·2^ln·p ≤ 256 MiB and scratch 128·r·p ≤ 1 MiB; salt 8..=48 bytes, output 16..=64 bytes |
//! | PBKDF2-HMAC-SHA256 | PHC `$pbkdf2-sha256$i=…,l=…$salt$hash` (RustCrypto's form; `l` is the output length) | `i` 1 000..=2 000 000, `l` 16..=64 and equal to the output's length; salt 8..=48 bytes |
//!
//! Anything else (another PHC algorithm such as `pbkdf2-sha512`, crypt(3)'s `$1$`/`$5$`/`$6$`,
//! passlib's own PBKDF2 form, a string over [`MAX_STORED_LEN`] bytes) is refused at import.
//!
//! **bcrypt and passwords over 72 bytes.** bcrypt keys its cipher with at most 72 bytes and
//! silently ignores the rest, so `"A" × 72 + "anything"` would verify against the hash of
//! `"A" × 72`. Here a password longer than 72 bytes never verifies against a bcrypt hash: the
//! bcrypt work is still done (on its first 72 bytes, so the timing does not tell), then the answer
//! is false. A user whose old password was longer than 72 bytes cannot sign in with it and must
//! reset it. (rust-bcrypt's `non_truncating_verify` is not used: it refuses a password of exactly
//! 72 bytes, all of which bcrypt does use, and refuses it without doing the work.)
//!
//! scrypt allocates its memory per verification (the crate takes no caller's buffer), at most
//! 65 MiB per worker at once under the bounds above.
//!
//! [`PasswordHasher::check_imported_hash`]: super::PasswordHasher::check_imported_hash
//! [`PasswordHasher::verify`]: super::PasswordHasher::verify
//! [`PasswordHasher::needs_rehash`]: super::PasswordHasher::needs_rehash

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Params, Version};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::workers::{MAX_BORROWED_BLOCKS, Workspace};
use crate::config::Argon2Params;

/// Longest stored hash accepted, in bytes: every supported form is far shorter.
pub(super) const MAX_STORED_LEN: usize = 512;

/// bcrypt's cost bounds (the log2 of its rounds).
const BCRYPT_COST: std::ops::RangeInclusive<u32> = 4..=14;
/// The most password bytes bcrypt uses.
pub(super) const BCRYPT_MAX_PASSWORD: usize = 72;

/// scrypt's bounds: `ln`, `p`, the memory 128·r·2^ln, the work 128·r·2^ln·p and the scratch
/// 128·r·p, in bytes.
const SCRYPT_LOG_N: std::ops::RangeInclusive<u8> = 1..=20;
const SCRYPT_MAX_P: u32 = 16;
const SCRYPT_MAX_MEMORY: u64 = 64 * 1024 * 1024;
const SCRYPT_MAX_SCRATCH: u64 = 1024 * 1024;
/// scrypt's time grows with memory × p: at most four passes over the largest memory.
const SCRYPT_MAX_WORK: u64 = 4 * SCRYPT_MAX_MEMORY;

/// PBKDF2-HMAC-SHA256's iteration bounds.
const PBKDF2_ROUNDS: std::ops::RangeInclusive<u32> = 1_000..=2_000_000;

/// Output length bounds for the legacy PHC schemes (scrypt and PBKDF2), in bytes.
const LEGACY_OUTPUT_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// Why a stored hash was not parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not a hash of a supported scheme, or malformed.
    Malformed,
    /// A supported scheme whose costs are outside the bounds.
    OutOfBounds,
}

/// A stored hash, parsed, with its costs within the bounds.
pub(super) enum Scheme {
    /// argon2id, argon2i or argon2d (PHC).
    Argon2 {
        algorithm: Algorithm,
        version: Version,
        params: Params,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// bcrypt, kept as the 60-character string rust-bcrypt verifies.
    Bcrypt(String),
    /// scrypt (PHC).
    Scrypt {
        params: scrypt::Params,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// PBKDF2-HMAC-SHA256 (PHC).
    Pbkdf2Sha256 {
        rounds: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

impl Scheme {
    /// Parses `stored` and checks its costs, computing nothing.
    pub(super) fn parse(stored: &str) -> Result<Self, Refused> {
        if stored.len() > MAX_STORED_LEN {
            return Err(Refused::Malformed);
        }
        if stored.starts_with("$2") {
            return parse_bcrypt(stored);
        }
        let phc = PasswordHash::new(stored).map_err(|_| Refused::Malformed)?;
        let salt = phc.salt.ok_or(Refused::Malformed)?.as_ref().to_vec();
        let hash = phc.hash.ok_or(Refused::Malformed)?.as_bytes().to_vec();
        match phc.algorithm.as_str() {
            "argon2id" | "argon2i" | "argon2d" => parse_argon2(&phc, salt, hash),
            "scrypt" => {
                let params = scrypt::Params::try_from(&phc).map_err(|_| Refused::Malformed)?;
                if !LEGACY_OUTPUT_LEN.contains(&hash.len()) {
                    return Err(Refused::Malformed);
                }
                let (ln, r, p) = (params.log_n(), u64::from(params.r()), u64::from(params.p()));
                // In this order, nothing overflows: r < 2^32, ln ≤ 20, p ≤ 16.
                let in_bounds = SCRYPT_LOG_N.contains(&ln)
                    && p <= u64::from(SCRYPT_MAX_P)
                    && (128 * r) << ln <= SCRYPT_MAX_MEMORY
                    && ((128 * r) << ln) * p <= SCRYPT_MAX_WORK
                    && 128 * r * p <= SCRYPT_MAX_SCRATCH;
                if !in_bounds {
                    return Err(Refused::OutOfBounds);
                }
                Ok(Scheme::Scrypt { params, salt, hash })
            }
            "pbkdf2-sha256" => {
                // Also checks that `l` is the output's length.
                let params = pbkdf2::Params::try_from(&phc).map_err(|_| Refused::Malformed)?;
                if !LEGACY_OUTPUT_LEN.contains(&hash.len()) {
                    return Err(Refused::Malformed);
                }
                if !PBKDF2_ROUNDS.contains(&params.rounds()) {
                    return Err(Refused::OutOfBounds);
                }
                Ok(Scheme::Pbkdf2Sha256 {
                    rounds: params.rounds(),
                    salt,
                    hash,
                })
            }
            _ => Err(Refused::Malformed),
        }
    }

    /// Whether `password` matches: the computation, on a hashing worker.
    pub(super) fn matches(&self, ws: &mut Workspace, password: &[u8]) -> bool {
        match self {
            Scheme::Argon2 {
                algorithm,
                version,
                params,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                ws.hash_into(
                    *algorithm,
                    *version,
                    params.clone(),
                    password,
                    salt,
                    &mut out,
                )
                .is_ok()
                    && bool::from(out.ct_eq(hash))
            }
            Scheme::Bcrypt(stored) => {
                // The work on the first 72 bytes whatever the length, then a longer password is
                // refused: bcrypt would have ignored its tail (see the module docs).
                let (used, ignored) = password.split_at(password.len().min(BCRYPT_MAX_PASSWORD));
                // rust-bcrypt compares the outputs in constant time (`subtle`).
                let matched = bcrypt::verify(used, stored).unwrap_or(false);
                matched && ignored.is_empty()
            }
            Scheme::Scrypt { params, salt, hash } => {
                let mut out = vec![0u8; hash.len()];
                scrypt::scrypt(password, salt, params, &mut out).is_ok()
                    && bool::from(out.ct_eq(hash))
            }
            Scheme::Pbkdf2Sha256 { rounds, salt, hash } => {
                let mut out = vec![0u8; hash.len()];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, *rounds, &mut out);
                bool::from(out.ct_eq(hash))
            }
        }
    }
}

fn parse_argon2(phc: &PasswordHash, salt: Vec<u8>, hash: Vec<u8>) -> Result<Scheme, Refused> {
    let algorithm = Algorithm::new(phc.algorithm.as_str()).map_err(|_| Refused::Malformed)?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).map_err(|_| Refused::Malformed)?,
        None => Version::V0x10,
    };
    let params = Params::try_from(phc).map_err(|_| Refused::Malformed)?;
    let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
    if params.block_count() > MAX_BORROWED_BLOCKS || work > Argon2Params::MAX_WORK_KIB {
        return Err(Refused::OutOfBounds);
    }
    Ok(Scheme::Argon2 {
        algorithm,
        version,
        params,
        salt,
        hash,
    })
}

fn parse_bcrypt(stored: &str) -> Result<Scheme, Refused> {
    let b = stored.as_bytes();
    // `$2x$` marks hashes of crypt_blowfish's sign-extension bug; rust-bcrypt would verify them as
    // `$2b$`, which they are not.
    if !matches!(b.get(1..4), Some(b"2a$" | b"2b$" | b"2y$")) {
        return Err(Refused::Malformed);
    }
    // Two decimal digits (rust-bcrypt's own parse would also take `+4`).
    if !b
        .get(4..6)
        .is_some_and(|c| c.iter().all(u8::is_ascii_digit))
    {
        return Err(Refused::Malformed);
    }
    // Length, `$` separators and the salt's and hash's bcrypt-base64.
    let parts: bcrypt::HashParts = stored.parse().map_err(|_| Refused::Malformed)?;
    if !BCRYPT_COST.contains(&parts.get_cost()) {
        return Err(Refused::OutOfBounds);
    }
    Ok(Scheme::Bcrypt(stored.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::super::{PasswordHasher, PasswordInput};
    use super::*;
    use crate::Password;
    use crate::config::{Argon2Params, PasswordPolicy};
    use crate::error::{Error, ValidationError};

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(Argon2Params::default(), PasswordPolicy::default(), 1, 8).unwrap()
    }

    /// pyca/bcrypt's test vectors (from OpenBSD's and John the Ripper's).
    const BCRYPT_2B: (&str, &str) = (
        "Kk4DQuMMfZL9o",
        "$2b$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
    );
    const BCRYPT_2A: (&str, &str) = (
        "U*U",
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    );
    /// `$2y$` (PHP's name for the fixed crypt_blowfish) computes exactly as `$2b$`: the `$2b$`
    /// vector under that prefix, as PHP's `password_verify` takes it.
    const BCRYPT_2Y: (&str, &str) = (
        "Kk4DQuMMfZL9o",
        "$2y$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
    );
    /// RFC 7914 §12's third scrypt vector ("pleaseletmein", "SodiumChloride", N = 16384, r = 8,
    /// p = 1, 64 bytes), written as PHC (checked against Python's `hashlib.scrypt`).
    const SCRYPT_RFC7914: (&str, &str) = (
        "pleaseletmein",
        "$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw",
    );
    /// passlib's documented scrypt example: at the memory bound exactly (128 · 8 · 2^16 = 64 MiB).
    const SCRYPT_PASSLIB: (&str, &str) = (
        "password",
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
    );
    /// The PBKDF2-HMAC-SHA256 vector in the style of RFC 6070 ("passwordPASSWORDpassword",
    /// "saltSALTsalt…", 4096 iterations, 40 bytes; checked against Python's
    /// `hashlib.pbkdf2_hmac`), as PHC.
    const PBKDF2_SHA256: (&str, &str) = (
        "passwordPASSWORDpassword",
        "$pbkdf2-sha256$i=4096,l=40$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q",
    );

    #[tokio::test]
    async fn known_answer_vectors_verify_and_want_a_rehash() {
        let h = hasher();
        for (password, stored) in [
            BCRYPT_2B,
            BCRYPT_2A,
            BCRYPT_2Y,
            SCRYPT_RFC7914,
            SCRYPT_PASSLIB,
            PBKDF2_SHA256,
        ] {
            assert_eq!(h.check_imported_hash(stored).unwrap(), stored);
            assert!(
                h.verify(&Password::new(password), stored).await.unwrap(),
                "{stored}"
            );
            let wrong = Password::new(format!("{password}!"));
            assert!(!h.verify(&wrong, stored).await.unwrap(), "{stored}");
            let before = h.computations();
            assert!(!h.verify(&Password::new(""), stored).await.unwrap());
            assert_eq!(
                h.computations(),
                before + 1,
                "a wrong password is one computation"
            );
            assert!(h.needs_rehash(stored), "{stored}");
        }
    }

    /// Round trips with the crates' own hashers, at other costs than the vectors.
    #[tokio::test]
    async fn hashes_made_by_the_crates_themselves_verify() {
        use argon2::password_hash::{CustomizedPasswordHasher as _, PasswordHasher as _};
        let h = hasher();
        let salt = b"a sixteen b salt";
        let scrypt = scrypt::Scrypt::from(scrypt::Params::new(10, 8, 2).unwrap())
            .hash_password_with_salt(b"correct horse", salt)
            .unwrap()
            .to_string();
        let pbkdf2 = pbkdf2::Pbkdf2::default()
            .hash_password_customized(
                b"correct horse",
                salt,
                None,
                None,
                pbkdf2::Params::new_with_output_len(1_000, 64).unwrap(),
            )
            .unwrap()
            .to_string();
        let bcrypt = bcrypt::hash_with_salt("correct horse", 5, *salt)
            .unwrap()
            .to_string();
        for stored in [scrypt, pbkdf2, bcrypt] {
            h.check_imported_hash(&stored).unwrap();
            assert!(
                h.verify(&Password::new("correct horse"), &stored)
                    .await
                    .unwrap()
            );
            assert!(
                !h.verify(&Password::new("correct horsE"), &stored)
                    .await
                    .unwrap()
            );
        }
    }

    #[tokio::test]
    async fn bcrypt_refuses_what_it_would_ignore_past_72_bytes() {
        let h = hasher();
        let a72 = "A".repeat(72);
        let stored = bcrypt::hash_with_salt(&a72, 4, *b"0123456789abcdef")
            .unwrap()
            .to_string();
        // What bcrypt itself says: the tail is ignored.
        assert!(bcrypt::verify(format!("{a72}x"), &stored).unwrap());
        assert!(h.verify(&Password::new(&a72), &stored).await.unwrap());
        let before = h.computations();
        for longer in [format!("{a72}x"), "A".repeat(73), "A".repeat(200)] {
            assert!(!h.verify(&Password::new(longer), &stored).await.unwrap());
        }
        assert_eq!(
            h.computations(),
            before + 3,
            "the work is done all the same"
        );
        // 71 bytes and a 72-byte variant are wrong passwords, as they should be.
        assert!(
            !h.verify(&Password::new("A".repeat(71)), &stored)
                .await
                .unwrap()
        );
        let b72 = format!("{}B", "A".repeat(71));
        assert!(!h.verify(&Password::new(b72), &stored).await.unwrap());
    }

    fn refused(h: &PasswordHasher, stored: &str) -> bool {
        matches!(
            h.check_imported_hash(stored),
            Err(Error::Validation(ValidationError::InvalidPasswordHash))
        )
    }

    #[tokio::test]
    async fn imports_refuse_what_is_not_a_supported_hash_in_bounds() {
        let h = hasher();
        let b = BCRYPT_2B.1;
        let (scrypt, pbkdf2) = (SCRYPT_RFC7914.1, PBKDF2_SHA256.1);
        let cases = [
            "not a hash".to_owned(),
            String::new(),
            // bcrypt: other prefixes, costs out of bounds, a malformed cost, truncated or padded.
            b.replacen("$2b$", "$2x$", 1),
            b.replacen("$2b$", "$2c$", 1),
            b.replacen("$04$", "$03$", 1),
            b.replacen("$04$", "$15$", 1),
            b.replacen("$04$", "$31$", 1),
            b.replacen("$04$", "$+4$", 1),
            b[..59].to_owned(),
            format!("{b}A"),
            format!(" {b}"),
            format!("{b}\n"),
            b.replacen("cVWp", "cV!p", 1),
            // scrypt: costs out of bounds, truncated salt or hash, a missing hash.
            scrypt.replacen("ln=14", "ln=30", 1),
            scrypt.replacen("ln=14", "ln=17", 1), // 128 MiB
            scrypt.replacen("ln=14", "ln=0", 1),
            scrypt.replacen("p=1", "p=17", 1),
            SCRYPT_PASSLIB.1.replacen("p=1", "p=5", 1), // 64 MiB, five times over
            scrypt.replacen("ln=14,r=8", "ln=1,r=262144", 1), // 32 MiB of scratch
            scrypt.replacen("U29kaXVtQ2hsb3JpZGU", "U29k", 1),
            scrypt[..scrypt.len() - 70].to_owned(),
            scrypt[..scrypt.rfind('$').unwrap()].to_owned(),
            // pbkdf2: iterations or length out of bounds, `l` not the length, unsupported digest.
            pbkdf2.replacen("i=4096", "i=1", 1),
            pbkdf2.replacen("i=4096", "i=2000001", 1),
            pbkdf2.replacen("l=40", "l=32", 1),
            pbkdf2.replacen("pbkdf2-sha256", "pbkdf2-sha512", 1),
            pbkdf2.replacen("pbkdf2-sha256", "pbkdf2-sha1", 1),
            pbkdf2.replacen("$NIyJ", "$", 1),
            // Other schemes.
            "$md5$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/".to_owned(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ".to_owned(),
            "$argon2id$v=19$m=524288,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            // Tiny memory, endless passes: hours of a worker's time.
            "$argon2id$v=19$m=8,t=4294967295,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            "$argon2id$v=19$m=262144,t=5,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            format!("{scrypt}{}", "A".repeat(MAX_STORED_LEN)),
        ];
        for case in &cases {
            assert!(refused(&h, case), "accepted {case:?}");
        }
        assert_eq!(h.computations(), 0, "an import check computes nothing");
    }

    #[tokio::test]
    async fn imports_accept_each_supported_scheme_up_to_its_bounds() {
        let h = hasher();
        let argon2id = h.hash(&Password::new("correct horse")).await.unwrap();
        let b = BCRYPT_2B.1;
        let pbkdf2 = PBKDF2_SHA256.1;
        let cases = [
            argon2id.clone(),
            argon2id.replacen("$argon2id$", "$argon2i$", 1),
            argon2id.replacen("$argon2id$", "$argon2d$", 1),
            argon2id.replacen("m=19456", "m=262144", 1),
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            b.to_owned(),
            b.replacen("$04$", "$14$", 1),
            "$argon2id$v=19$m=262144,t=4,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
            SCRYPT_PASSLIB.1.to_owned(),
            SCRYPT_PASSLIB.1.replacen("p=1", "p=4", 1),
            SCRYPT_RFC7914.1.replacen("p=1", "p=16", 1),
            pbkdf2.replacen("i=4096", "i=1000", 1),
            pbkdf2.replacen("i=4096", "i=2000000", 1),
        ];
        let before = h.computations();
        for case in &cases {
            assert_eq!(h.check_imported_hash(case).unwrap(), *case);
        }
        assert_eq!(h.computations(), before);
    }

    /// A stored legacy hash outside the bounds (a tampered row) is a wrong password answered at
    /// once: no computation, and the worker keeps serving.
    #[tokio::test]
    async fn out_of_bounds_legacy_hashes_fail_at_once() {
        let h = hasher();
        let absurd = [
            BCRYPT_2B.1.replacen("$04$", "$31$", 1),
            SCRYPT_RFC7914.1.replacen("ln=14", "ln=30", 1),
            PBKDF2_SHA256.1.replacen("i=4096", "i=4000000000", 1),
        ];
        let started = std::time::Instant::now();
        for stored in &absurd {
            assert!(!h.verify(&Password::new("x"), stored).await.unwrap());
        }
        assert_eq!(h.computations(), 0);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let (password, stored) = BCRYPT_2B;
        assert!(h.verify(&Password::new(password), stored).await.unwrap());
    }

    #[test]
    fn password_input_debug_redacts_the_hash() {
        let hash = PasswordInput::Hash(BCRYPT_2B.1.to_owned());
        let plain = PasswordInput::Plain(Password::new("hunter2hunter2"));
        let printed = format!("{hash:?} {plain:?}");
        assert!(
            !printed.contains("cVWp4X") && !printed.contains("hunter2"),
            "{printed}"
        );
        assert!(
            printed.contains("Hash") && printed.contains("Plain"),
            "{printed}"
        );
    }
}
