//! The key ring, the signer and the verifier, against tokens made by hand and by `jsonwebtoken`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::rbac::seed;
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::{Algorithm, EncodingKey};
use sha2::Sha256;

use crate::error::{Error, TokenError};

const NOW: i64 = 1_800_000_000;

fn validation() -> Validation {
    Validation {
        issuer: "iss".into(),
        audience: "aud".into(),
        leeway: Duration::from_secs(30),
    }
}

fn claims() -> AccessClaims {
    AccessClaims {
        sub: "1".into(),
        sid: "session".into(),
        role: seed::MEMBER,
        org: None,
        iss: "iss".into(),
        aud: "aud".into(),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 86_400,
        jti: "j".into(),
    }
}

fn hs_ring() -> KeyRing {
    KeyRing::new(JwtKey::hs256("hs-1", &[7u8; 32]).unwrap()).unwrap()
}

fn ed_ring() -> KeyRing {
    KeyRing::new(JwtKey::ed25519_from_seed("ed-1", [9u8; 32]).unwrap()).unwrap()
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn round_trip_both_algorithms() {
    for ring in [hs_ring(), ed_ring()] {
        let t = ring.sign(&claims()).unwrap();
        assert_eq!(
            ring.verify(t.expose(), &validation(), NOW).unwrap(),
            claims()
        );
    }
}

#[test]
fn header_is_at_jwt_with_kid() {
    let t = ed_ring().sign(&claims()).unwrap();
    let h = jsonwebtoken::decode_header(t.expose()).unwrap();
    assert_eq!(h.typ.as_deref(), Some("at+jwt"));
    assert_eq!(h.kid.as_deref(), Some("ed-1"));
    assert_eq!(h.alg, Algorithm::EdDSA);
}

#[test]
fn our_tokens_verify_with_bare_jsonwebtoken() {
    let ring = hs_ring();
    let t = ring.sign(&claims()).unwrap();
    let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
    v.set_audience(&["aud"]);
    v.validate_exp = false;
    let key = jsonwebtoken::DecodingKey::from_secret(&[7u8; 32]).unwrap();
    let d = jsonwebtoken::decode::<AccessClaims>(t.expose(), &key, &v).unwrap();
    assert_eq!(d.claims, claims());
}

#[test]
fn alg_none_is_refused() {
    let ring = hs_ring();
    for alg in ["none", "None", "NONE"] {
        let h = b64(&serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": "hs-1"}));
        let p = b64(&serde_json::to_value(claims()).unwrap());
        for token in [format!("{h}.{p}."), format!("{h}.{p}")] {
            assert!(ring.verify(&token, &validation(), NOW).is_err(), "{alg}");
        }
    }
}

#[test]
fn hs256_keyed_with_the_eddsa_public_key_is_refused() {
    let ring = ed_ring();
    let public = ring.active().ed25519_public_bytes().unwrap();
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("ed-1".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ring.verify(&forged, &validation(), NOW),
        Err(TokenError::AlgorithmMismatch)
    );
    // The JWKS text itself as the HMAC secret fares no better.
    let jwks = serde_json::to_vec(&ring.jwks()).unwrap();
    let forged = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&jwks).unwrap(),
    )
    .unwrap();
    assert!(ring.verify(&forged, &validation(), NOW).is_err());
}

#[test]
fn tampered_payload_and_signature_are_refused() {
    for ring in [hs_ring(), ed_ring()] {
        let t = ring.sign(&claims()).unwrap();
        let parts: Vec<&str> = t.expose().split('.').collect();
        let mut evil = claims();
        evil.role = seed::ADMIN;
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_value(&evil).unwrap()),
            parts[2]
        );
        assert_eq!(
            ring.verify(&tampered, &validation(), NOW),
            Err(TokenError::BadSignature)
        );

        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[0] ^= 1;
        let tampered = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(
            ring.verify(&tampered, &validation(), NOW),
            Err(TokenError::BadSignature)
        );

        let truncated = format!("{}.{}.", parts[0], parts[1]);
        assert!(ring.verify(&truncated, &validation(), NOW).is_err());
    }
}

#[test]
fn expiry_and_not_before_with_leeway() {
    let ring = hs_ring();
    let t = ring.sign(&claims()).unwrap();
    let exp = NOW + 86_400;
    // Inside the leeway: still accepted.
    assert!(ring.verify(t.expose(), &validation(), exp + 29).is_ok());
    assert_eq!(
        ring.verify(t.expose(), &validation(), exp + 30),
        Err(TokenError::Expired)
    );
    assert_eq!(
        ring.verify(t.expose(), &validation(), exp + 3600),
        Err(TokenError::Expired)
    );

    let mut future = claims();
    future.nbf = NOW + 600;
    let t = ring.sign(&future).unwrap();
    assert_eq!(
        ring.verify(t.expose(), &validation(), NOW),
        Err(TokenError::NotYetValid)
    );
    assert!(
        ring.verify(t.expose(), &validation(), NOW + 600 - 30)
            .is_ok()
    );
    assert_eq!(
        ring.verify(t.expose(), &validation(), NOW + 600 - 31),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn wrong_issuer_audience_type_kid() {
    let ring = hs_ring();
    let mut c = claims();
    c.iss = "someone-else".into();
    let t = ring.sign(&c).unwrap();
    assert_eq!(
        ring.verify(t.expose(), &validation(), NOW),
        Err(TokenError::WrongIssuer)
    );

    let mut c = claims();
    c.aud = "another-api".into();
    let t = ring.sign(&c).unwrap();
    assert_eq!(
        ring.verify(t.expose(), &validation(), NOW),
        Err(TokenError::WrongAudience)
    );

    // A correctly signed JWT of another type (e.g. an ID token or a plain JWT).
    let key = EncodingKey::from_secret(&[7u8; 32]).unwrap();
    for typ in [Some("JWT"), Some("refresh+jwt"), None] {
        let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
        h.kid = Some("hs-1".into());
        h.typ = typ.map(String::from);
        let t = jsonwebtoken::encode(&h, &claims(), &key).unwrap();
        assert_eq!(
            ring.verify(&t, &validation(), NOW),
            Err(TokenError::WrongType),
            "{typ:?}"
        );
    }

    let other = KeyRing::new(JwtKey::hs256("hs-2", &[7u8; 32]).unwrap()).unwrap();
    let t = other.sign(&claims()).unwrap();
    assert_eq!(
        ring.verify(t.expose(), &validation(), NOW),
        Err(TokenError::UnknownKey)
    );

    let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
    h.typ = Some("at+jwt".into());
    let t = jsonwebtoken::encode(&h, &claims(), &key).unwrap();
    assert_eq!(
        ring.verify(&t, &validation(), NOW),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn critical_headers_are_refused() {
    let ring = hs_ring();
    let t = ring.sign(&claims()).unwrap();
    let parts: Vec<&str> = t.expose().split('.').collect();
    let h =
        b64(&serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "hs-1", "crit": ["exp"]}));
    let forged = format!("{h}.{}.{}", parts[1], parts[2]);
    assert_eq!(
        ring.verify(&forged, &validation(), NOW),
        Err(TokenError::UnsupportedCritical)
    );
}

/// Correctly signed tokens whose header or claims this verifier must refuse.
#[test]
fn correctly_signed_oddities_are_refused() {
    let key = EncodingKey::from_secret(&[7u8; 32]).unwrap();
    let sign = |header: serde_json::Value, claims: serde_json::Value| {
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
        mac.update(input.as_bytes());
        let _ = &key;
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let good_header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "hs-1"});
    let good_claims = serde_json::to_value(claims()).unwrap();
    let ring = hs_ring();
    assert!(
        ring.verify(
            &sign(good_header.clone(), good_claims.clone()),
            &validation(),
            NOW
        )
        .is_ok(),
        "the control token verifies"
    );
    let with = |name: &str, value: serde_json::Value| {
        let mut h = good_header.clone();
        h[name] = value;
        h
    };
    for (name, value) in [
        ("crit", serde_json::json!(null)),
        ("crit", serde_json::json!([])),
        ("b64", serde_json::json!(false)),
        ("b64", serde_json::json!(true)),
        ("jwk", serde_json::json!("not an object")),
        ("jwk", serde_json::json!({"kty": "oct", "k": "AAAA"})),
        ("jku", serde_json::json!("https://evil.example/jwks")),
        ("x5c", serde_json::json!("not a list")),
        ("x5u", serde_json::json!(null)),
        ("x5t", serde_json::json!(1)),
        ("x5t#S256", serde_json::json!("abc")),
        ("cty", serde_json::json!(5)),
        ("cty", serde_json::json!({})),
        ("kid", serde_json::json!(7)),
        ("typ", serde_json::json!(["at+jwt"])),
    ] {
        let token = sign(with(name, value.clone()), good_claims.clone());
        assert!(
            ring.verify(&token, &validation(), NOW).is_err(),
            "{name}: {value} was accepted"
        );
    }
    // A string `cty` is a registered parameter of the right type: ignored.
    let token = sign(with("cty", serde_json::json!("JWT")), good_claims.clone());
    assert!(ring.verify(&token, &validation(), NOW).is_ok());
    // A duplicated header parameter is malformed, whatever the copies say.
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","kid":"hs-1"}"#),
        b64(&good_claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
    mac.update(input.as_bytes());
    let dup = format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    assert!(ring.verify(&dup, &validation(), NOW).is_err());

    // JSON texts a strict parser refuses, hidden where serde only skips.
    let sign_raw = |header: &[u8], claims: &[u8]| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let header = serde_json::to_vec(&good_header).unwrap();
    let body = serde_json::to_vec(&good_claims).unwrap();
    assert!(
        ring.verify(&sign_raw(&header, &body), &validation(), NOW)
            .is_ok()
    );
    let with_member = |json: &[u8], member: &[u8]| {
        let mut v = json[..json.len() - 1].to_vec();
        v.extend_from_slice(b",\"x\":");
        v.extend_from_slice(member);
        v.push(b'}');
        v
    };
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for member in [
        &b"1e999"[..],
        b"[[-184000000e000000009992004809536]]",
        b"\"\xff\"",
        br#""\ud800""#,
        br#""\udc00""#,
        br#""\ud83d\ude00""#,
        deep.as_bytes(),
    ] {
        for (h, c) in [
            (with_member(&header, member), body.clone()),
            (header.clone(), with_member(&body, member)),
        ] {
            assert!(
                ring.verify(&sign_raw(&h, &c), &validation(), NOW).is_err(),
                "{}",
                String::from_utf8_lossy(member)
            );
        }
    }
    // Duplicated members are refused even where serde would skip them, and so are escapes
    // in top-level names (`\u0065nc` would be a second `enc`).
    for dup in [
        &br#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","enc":"a","enc":"b"}"#[..],
        br#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","enc":"a","\u0065nc":"b"}"#,
    ] {
        assert!(
            ring.verify(&sign_raw(dup, &body), &validation(), NOW)
                .is_err()
        );
    }
    let dup_claims = with_member(&with_member(&body, b"1"), b"2");
    assert!(
        ring.verify(&sign_raw(&header, &dup_claims), &validation(), NOW)
            .is_err()
    );
    // Any member the verifier does not read is refused, however harmless it looks.
    let nested = with_member(&body, br#"{"x": 1, "sub": {"x": 2}}"#);
    assert!(
        ring.verify(&sign_raw(&header, &nested), &validation(), NOW)
            .is_err()
    );
    let extra_header = with_member(&header, br#""JWT""#);
    assert!(
        ring.verify(&sign_raw(&extra_header, &body), &validation(), NOW)
            .is_err()
    );
    // In a member the verifier reads, the parser itself is strict: a lone surrogate escape
    // is refused, an escaped backslash before a `u` is just text.
    let jti = |raw: &str| {
        let text = String::from_utf8(body.clone()).unwrap();
        text.replace(r#""jti":"j""#, &format!(r#""jti":"{raw}""#))
            .into_bytes()
    };
    for raw in [r"\ud800", r"\udfff", r"\u12"] {
        assert!(
            ring.verify(&sign_raw(&header, &jti(raw)), &validation(), NOW)
                .is_err(),
            "{raw}"
        );
    }
    assert!(
        ring.verify(&sign_raw(&header, &jti(r"\\ud800")), &validation(), NOW)
            .is_ok()
    );
    // Arrays in place of the objects (serde-derived structs would read them in order).
    let claims_array = serde_json::to_vec(&serde_json::json!([
        "1",
        "session",
        "member",
        null,
        "iss",
        "aud",
        NOW,
        NOW,
        NOW + 60,
        "j"
    ]))
    .unwrap();
    assert!(
        ring.verify(&sign_raw(&header, &claims_array), &validation(), NOW)
            .is_err()
    );
    let header_array = br#"["HS256", "hs-1", "at+jwt"]"#;
    assert!(
        ring.verify(&sign_raw(header_array, &body), &validation(), NOW)
            .is_err()
    );

    for (claim, value) in [
        ("nbf", serde_json::json!(-1)),
        ("iat", serde_json::json!(-5)),
        ("exp", serde_json::json!(1i64 << 53)),
        ("exp", serde_json::json!(i64::MAX)),
        ("nbf", serde_json::json!(1.5)),
        ("exp", serde_json::json!("1800086400")),
    ] {
        let mut c = good_claims.clone();
        c[claim] = value.clone();
        let token = sign(good_header.clone(), c);
        assert!(
            ring.verify(&token, &validation(), NOW).is_err(),
            "{claim}: {value} was accepted"
        );
    }
}

#[test]
fn rotation_keeps_old_tokens_and_removal_ends_them() {
    let mut ring = hs_ring();
    let old = ring.sign(&claims()).unwrap();
    ring.rotate(JwtKey::generate_ed25519("ed-2").unwrap())
        .unwrap();
    let new = ring.sign(&claims()).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(new.expose())
            .unwrap()
            .kid
            .as_deref(),
        Some("ed-2")
    );
    assert!(ring.verify(old.expose(), &validation(), NOW).is_ok());
    assert!(ring.verify(new.expose(), &validation(), NOW).is_ok());
    assert!(
        ring.remove("ed-2").is_err(),
        "the active key cannot be removed"
    );
    assert!(ring.remove("hs-1").unwrap());
    assert_eq!(
        ring.verify(old.expose(), &validation(), NOW),
        Err(TokenError::UnknownKey)
    );
    assert!(ring.verify(new.expose(), &validation(), NOW).is_ok());
}

#[test]
fn small_order_ed25519_keys_are_refused() {
    // The identity point: every signature with R = identity and S = 0 would "verify".
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(matches!(
        JwtKey::ed25519_public("weak", identity),
        Err(Error::Config(_))
    ));
}

#[test]
fn short_hs256_secret_is_refused() {
    assert!(matches!(
        JwtKey::hs256("k", &[1u8; 31]),
        Err(Error::Config(_))
    ));
    assert!(JwtKey::hs256("k", &[1u8; 32]).is_ok());
}

#[test]
fn jwks_has_public_keys_only() {
    let mut ring = hs_ring();
    assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 0);
    ring.rotate(JwtKey::ed25519_from_seed("ed-1", [9u8; 32]).unwrap())
        .unwrap();
    let jwks = ring.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], "ed-1");
    assert_eq!(keys[0]["crv"], "Ed25519");
    // A verifier built from the JWKS alone accepts our tokens.
    let x = URL_SAFE_NO_PAD
        .decode(keys[0]["x"].as_str().unwrap())
        .unwrap();
    let public = JwtKey::ed25519_public("ed-1", x.try_into().unwrap()).unwrap();
    let mut verifier = KeyRing::new(JwtKey::generate_hs256("unused").unwrap()).unwrap();
    verifier.add(public).unwrap();
    let t = ring.sign(&claims()).unwrap();
    assert!(verifier.verify(t.expose(), &validation(), NOW).is_ok());
    assert!(!format!("{:?}", ring).contains("[7, 7"));
}

#[test]
fn material_round_trip() {
    for key in [
        JwtKey::generate_hs256("a").unwrap(),
        JwtKey::generate_ed25519("b").unwrap(),
    ] {
        let again =
            JwtKey::from_material(key.kid(), key.algorithm(), &key.material().unwrap()).unwrap();
        let ring = KeyRing::new(key).unwrap();
        let t = ring.sign(&claims()).unwrap();
        let ring2 = KeyRing::new(again).unwrap();
        assert!(ring2.verify(t.expose(), &validation(), NOW).is_ok());
    }
}

#[test]
fn garbage_never_panics() {
    let ring = hs_ring();
    for junk in [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "eyJ.eyJ.",
        &"a".repeat(10_000),
        "é.é.é",
    ] {
        assert!(ring.verify(junk, &validation(), NOW).is_err());
    }
}
