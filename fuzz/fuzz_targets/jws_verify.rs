//! Differential fuzzing of `token::KeyRing::verify` against `jsonwebtoken::decode`.
//!
//! Our verifier is meant to be *stricter* than jsonwebtoken: it requires `typ: at+jwt`, a `kid`
//! in the ring, typed `sub`/`sid`/`role`/`iss`/`aud`/`iat`/`nbf`/`exp`/`jti`, and refuses header
//! members jsonwebtoken tolerates. So the oracle is one-sided: a token that our verifier ACCEPTS
//! and jsonwebtoken REJECTS is a crash, unless the difference is one listed below. A token that
//! only jsonwebtoken accepts is fine.
//!
//! A second oracle states what "stricter" means, independently of jsonwebtoken (the rules the
//! verifier keeps): an accepted token never has a `crit` (not even `null`), a
//! `b64`, a `jku`/`jwk`/`x5u`/`x5c`/`x5t`/`x5t#S256`, a non-string `cty`, or an `iat`/`nbf`/`exp`
//! outside `0..2^53`; and its header and its claims are JSON objects that serde_json can read as
//! a `Value` (valid UTF-8, no lone surrogate escapes, nesting within serde_json's limit).
//!
//! # Input
//!
//! The first byte picks the mode (`byte % 3`; the seeds use the letters shown):
//!
//! * `r` raw: the rest, as UTF-8 (lossy), is the token.
//! * `j` JSON: the rest is `<header JSON> 0x00 <claims JSON>`; the target base64url-encodes both
//!   and signs them with the ring's HS256 key, so the signature is always valid and only the
//!   structure of header and claims varies. This is the mode that finds things.
//! * `b` base64: the rest, as UTF-8 (lossy), is the signing input `<header b64>.<claims b64>`; the
//!   target appends a valid signature (exercises the base64 decoders with valid signatures).
//!
//! # Seeds (`fuzz/seeds/jws_verify/`, run first, so each is a regression test)
//!
//! * `ok-*`: tokens that must pass this check (valid ones, and differences in the allowed
//!   direction such as `crit: ["b64"]`, which jsonwebtoken accepts and we refuse);
//! * `d1-*`: examples of deliberate difference D1;
//! * `tighten-*`: one per rule the verifier keeps (`crit`, `b64`, `jku`, `jwk`,
//!   `x5*`, non-string `cty`, `iat`/`nbf`/`exp` outside `0..2^53`);
//! * `new-*`: the other differences the fuzzer found against jsonwebtoken: a header or claims
//!   that is a JSON array, invalid UTF-8 or a lone surrogate escape inside a member we skip, and
//!   nesting deeper than serde_json's recursion limit (128) inside a member we skip, and a
//!   duplicated member that we skip (`"enc"` twice), and a number beyond a double's range inside
//!   a member we skip. The verifier now refuses every member it does not read, so none is skipped.
//!
//! # Both sides are configured alike
//!
//! One HS256 key (`kid` = `fuzz-hs`); jsonwebtoken: `Validation::new(HS256)` (HS256 only), the
//! same `iss` and `aud`, `exp`/`nbf`/`iss`/`aud`/`sub` required, the same leeway (30 s).
//!
//! # Time
//!
//! jsonwebtoken reads the system clock inside `decode`, ours takes `now` as an argument. Reading
//! the clock on both sides would make crashes irreproducible (a token near the boundary verifies
//! differently a second later) and racy under load. So jsonwebtoken's time checks are OFF
//! (`validate_exp = validate_nbf = false`; `exp` and `nbf` stay *required*, which still makes
//! jsonwebtoken refuse a missing or non-numeric one), both sides use the fixed `NOW`, and
//! [`jsonwebtoken_time_rule`] applies jsonwebtoken 12's own rule (copied from its `validate`,
//! with its `u64`/float reading of `exp`/`nbf`) at `NOW`. Our rule is "expired when
//! `now - leeway >= exp`", jsonwebtoken's "when `exp < now - leeway`": ours is one second
//! stricter at the boundary, which is the allowed direction.
//!
//! # Deliberate differences (ours accepts, jsonwebtoken refuses, by design)
//!
//! | id | difference | why |
//! |----|------------|-----|
//! | D1 | header members `enc`, `zip`, `url`, `nonce` that jsonwebtoken's typed `Header` refuses (not a string) | they are not JWS header parameters (`enc`/`zip` are JWE's, RFC 7516; `url`/`nonce` ACME's, RFC 8555); RFC 7515 §4 says a JWS verifier ignores parameters it does not understand, and ours never reads them |
//!
//! A difference counts as D1 only if the header is a JSON object without duplicate members and
//! jsonwebtoken accepts the same token once those members are removed (re-signed): so D1 can
//! never hide another cause. Anything else is a crash; fix the verifier, or, if the difference is
//! wanted, add a row here with its reason.

#![no_main]

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use assimetria_auth::token::{AccessClaims, JwtKey, KeyRing, Validation};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey};
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The fixed verification time (Unix seconds), the same on both sides.
const NOW: i64 = 1_800_000_000;
const LEEWAY_SECS: u64 = 30;
const KID: &str = "fuzz-hs";
const SECRET: &[u8; 32] = b"assimetria-auth fuzz HS256 key!!";
const ISSUER: &str = "assimetria-auth";
const AUDIENCE: &str = "assimetria-api";
/// Numeric claims an accepted token may carry: `0..2^53` (exactly representable everywhere).
const MAX_NUMERIC: i64 = 1 << 53;
/// Header members an accepted token never carries, in any form.
const REFUSED_HEADER_MEMBERS: [&str; 8] =
    ["crit", "b64", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"];
/// D1: members a JWS verifier ignores, which jsonwebtoken nevertheless types.
const D1_MEMBERS: [&str; 4] = ["enc", "zip", "url", "nonce"];

struct Fixture {
    ring: KeyRing,
    validation: Validation,
    key: DecodingKey,
    jwt_validation: jsonwebtoken::Validation,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ring = KeyRing::new(JwtKey::hs256(KID, SECRET).expect("HS256 key")).expect("ring");
        let validation = Validation {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway: Duration::from_secs(LEEWAY_SECS),
        };
        let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
        v.leeway = LEEWAY_SECS;
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = true;
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        Fixture {
            ring,
            validation,
            key: DecodingKey::from_secret(SECRET).expect("jsonwebtoken key"),
            jwt_validation: v,
        }
    })
}

fn sign(signing_input: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("HMAC key");
    mac.update(signing_input.as_bytes());
    let mut token = String::with_capacity(signing_input.len() + 44);
    token.push_str(signing_input);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
    token
}

fn sign_parts(header: &[u8], claims: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    sign(&input)
}

/// jsonwebtoken's reading of a NumericDate (`numeric_type` in its `validation.rs`): a `u64`, or a
/// finite non-negative float below `u64::MAX`, rounded.
fn jsonwebtoken_numeric(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    match v.as_f64() {
        Some(f) if v.is_f64() && f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
            Some(f.round() as u64)
        }
        _ => None,
    }
}

/// jsonwebtoken 12's `exp`/`nbf` rule (from `validation::validate`, with
/// `reject_tokens_expiring_in_less_than = 0`), evaluated at [`NOW`] instead of the system clock.
fn jsonwebtoken_time_rule(claims: &Value) -> Result<(), String> {
    let now = NOW as u64;
    let get = |name: &str| claims.as_object().and_then(|o| o.get(name));
    // `exp` and `nbf` are required, so jsonwebtoken already refused a missing or unreadable one;
    // a claims array (which its struct reader also takes) has no members to read here.
    let exp = get("exp")
        .and_then(jsonwebtoken_numeric)
        .ok_or("exp unreadable")?;
    let nbf = get("nbf")
        .and_then(jsonwebtoken_numeric)
        .ok_or("nbf unreadable")?;
    if exp < now - LEEWAY_SECS {
        return Err(format!("ExpiredSignature (exp {exp} < now {now} - leeway)"));
    }
    if nbf > now + LEEWAY_SECS {
        return Err(format!(
            "ImmatureSignature (nbf {nbf} > now {now} + leeway)"
        ));
    }
    Ok(())
}

/// jsonwebtoken's verdict on `token`, time rule included.
fn jsonwebtoken_verdict(token: &str) -> Result<Value, String> {
    let f = fixture();
    let data = jsonwebtoken::decode::<Value>(token, &f.key, &f.jwt_validation)
        .map_err(|e| format!("{:?}", e.kind()))?;
    jsonwebtoken_time_rule(&data.claims)?;
    Ok(data.claims)
}

/// The member names of a JSON object in order, duplicates kept.
struct MemberNames(Vec<String>);

impl<'de> Deserialize<'de> for MemberNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MemberNames;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MemberNames, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    names.push(name);
                }
                Ok(MemberNames(names))
            }
        }
        d.deserialize_map(V)
    }
}

/// Whether jsonwebtoken's refusal is explained by D1 alone (see the table at the top).
fn explained_by_d1(header_json: &[u8], claims_b64: &str) -> bool {
    let Ok(MemberNames(names)) = serde_json::from_slice::<MemberNames>(header_json) else {
        return false;
    };
    let unique: HashSet<&str> = names.iter().map(String::as_str).collect();
    if unique.len() != names.len() {
        return false;
    }
    let Ok(Value::Object(mut header)) = serde_json::from_slice::<Value>(header_json) else {
        return false;
    };
    let mut removed = false;
    for name in D1_MEMBERS {
        if header
            .get(name)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            header.remove(name);
            removed = true;
        }
    }
    if !removed {
        return false;
    }
    let header = serde_json::to_vec(&Value::Object(header)).expect("re-encode header");
    let token = sign(&format!("{}.{claims_b64}", URL_SAFE_NO_PAD.encode(header)));
    jsonwebtoken_verdict(&token).is_ok()
}

/// What our verifier must refuse even where jsonwebtoken would accept (the tightening).
fn policy_violation(header: &Map<String, Value>, claims: &Map<String, Value>) -> Option<String> {
    for name in REFUSED_HEADER_MEMBERS {
        if let Some(v) = header.get(name) {
            return Some(format!("has a `{name}` header member ({v})"));
        }
    }
    if let Some(cty) = header.get("cty").filter(|v| !v.is_string()) {
        return Some(format!("has a non-string `cty` ({cty})"));
    }
    for name in ["iat", "nbf", "exp"] {
        let ok = claims
            .get(name)
            .and_then(Value::as_i64)
            .is_some_and(|n| (0..MAX_NUMERIC).contains(&n));
        if !ok {
            return Some(format!(
                "has `{name}` = {} outside 0..2^53",
                claims
                    .get(name)
                    .map_or("<missing>".into(), Value::to_string)
            ));
        }
    }
    None
}

fn crash(what: &str, token: &str) -> ! {
    let mut parts = token.split('.');
    let decode = |p: Option<&str>| {
        p.and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let header = decode(parts.next());
    let claims = decode(parts.next());
    panic!(
        "jws_verify: our verifier accepted a token that {what}\n  token:  {token}\n  \
         header: {header:?}\n  claims: {claims:?}"
    );
}

fn check(token: &str) {
    let f = fixture();
    let ours = f.ring.verify(token, &f.validation, NOW);
    let Ok(claims) = ours else {
        // Refused by us: whatever jsonwebtoken says, we are at least as strict.
        return;
    };
    let (signing_input, _) = token.rsplit_once('.').expect("accepted => three parts");
    let (header_b64, claims_b64) = signing_input.split_once('.').expect("three parts");
    let header_json = URL_SAFE_NO_PAD
        .decode(header_b64)
        .expect("accepted => base64url");
    let claims_json = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .expect("accepted => base64url");

    match jsonwebtoken_verdict(token) {
        Ok(theirs) => same_claims(token, &claims, &theirs),
        Err(why) => {
            if !explained_by_d1(&header_json, claims_b64) {
                crash(&format!("jsonwebtoken rejects: {why}"), token);
            }
        }
    }

    let header = match serde_json::from_slice::<Value>(&header_json) {
        Ok(Value::Object(h)) => h,
        Ok(_) => crash("has a header that is not a JSON object", token),
        Err(e) => crash(&format!("has a header that is not valid JSON ({e})"), token),
    };
    let claims_obj = match serde_json::from_slice::<Value>(&claims_json) {
        Ok(Value::Object(c)) => c,
        Ok(_) => crash("has claims that are not a JSON object", token),
        Err(e) => crash(&format!("has claims that are not valid JSON ({e})"), token),
    };
    if let Some(why) = policy_violation(&header, &claims_obj) {
        crash(&why, token);
    }
}

/// Both accepted: they must have read the same claims.
fn same_claims(token: &str, ours: &AccessClaims, theirs: &Value) {
    let s = |name: &str| theirs.get(name).and_then(Value::as_str);
    let n = |name: &str| theirs.get(name).and_then(jsonwebtoken_numeric);
    let agree = s("sub") == Some(ours.sub.as_str())
        && s("iss") == Some(ours.iss.as_str())
        && s("aud") == Some(ours.aud.as_str())
        && u64::try_from(ours.exp).ok() == n("exp")
        && u64::try_from(ours.nbf).ok() == n("nbf");
    if !agree {
        crash(
            &format!(
                "both accept, but read different claims: ours {ours:?}, jsonwebtoken {theirs}"
            ),
            token,
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = match mode % 3 {
        // 'j'
        1 => {
            let (header, claims) = match rest.iter().position(|&b| b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            sign_parts(header, claims)
        }
        // 'b'
        2 => sign(&String::from_utf8_lossy(rest)),
        // 'r'
        _ => String::from_utf8_lossy(rest).into_owned(),
    };
    check(&token);
});
