//! Reading a JWS header or claims set as strict JSON.
//!
//! serde reads the members this verifier knows strictly (types, duplicates) but only skips the
//! others, and skipping checks less than parsing: it passes invalid UTF-8, lone surrogate
//! escapes, numbers out of range, duplicated names and any nesting. A verifier that accepts a
//! JSON text other parsers refuse invites confusion between them (the differential fuzz target
//! `fuzz/fuzz_targets/jws_verify.rs` found each of these against `jsonwebtoken`), so this pass
//! refuses them first, without allocating.

use crate::error::TokenError;

/// Deepest nesting accepted anywhere in a header or claims set (ours are flat).
const MAX_JSON_DEPTH: usize = 32;
/// Most top-level members accepted in a header or claims set (ours have at most ten).
const MAX_MEMBERS: usize = 32;

/// The checks serde's skipping of unknown members leaves out, so that no JSON text that a strict
/// parser refuses is accepted here: valid UTF-8 throughout, an object at the top (derived structs
/// would also take an array), unique member names at the top (RFC 7515 §4: a verifier rejects
/// duplicate header parameters; serde only notices duplicates of the fields it reads), no `\u`
/// escape of a UTF-16 surrogate (a lone one is not a character; this service never writes one, so
/// paired ones are refused too) and no escape at all in a top-level name, no number beyond a
/// double's range, and bounded nesting.
/// One pass over the bytes, no allocation.
pub(super) fn strict_json_object(json: &[u8]) -> Result<&str, TokenError> {
    let text = std::str::from_utf8(json).map_err(|_| TokenError::Malformed)?;
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(TokenError::Malformed);
    }
    let bytes = text.as_bytes();
    let mut names: [&str; MAX_MEMBERS] = [""; MAX_MEMBERS];
    let mut count = 0;
    let (mut depth, mut in_string, mut expect_name) = (0usize, false, false);
    // Where the top-level member name being read starts, while one is.
    let mut name_start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (true, b'\\') => {
                if name_start.is_some() {
                    return Err(TokenError::Malformed);
                }
                if bytes.get(i + 1) == Some(&b'u') {
                    let hex = bytes.get(i + 2..i + 6).ok_or(TokenError::Malformed)?;
                    let unit = std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                        .ok_or(TokenError::Malformed)?;
                    if (0xD800..=0xDFFF).contains(&unit) {
                        return Err(TokenError::Malformed);
                    }
                }
                i += 1; // the escaped character is never a quote that ends the string
            }
            (true, b'"') => {
                in_string = false;
                if let Some(start) = name_start.take() {
                    let name = &text[start..i];
                    if count == MAX_MEMBERS || names[..count].contains(&name) {
                        return Err(TokenError::Malformed);
                    }
                    names[count] = name;
                    count += 1;
                }
            }
            (false, b'"') => {
                in_string = true;
                if depth == 1 && expect_name {
                    name_start = Some(i + 1);
                    expect_name = false;
                }
            }
            (false, b'{' | b'[') => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(TokenError::Malformed);
                }
                expect_name = depth == 1;
            }
            (false, b'}' | b']') => depth = depth.saturating_sub(1),
            (false, b',') if depth == 1 => expect_name = true,
            (false, b'-' | b'0'..=b'9') => {
                // A number too large for a double (`1e999`) is out of range for a strict parser,
                // even in a member serde only skips.
                let end = bytes[i..]
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(bytes.len(), |n| i + n);
                if !text[i..end].parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(TokenError::Malformed);
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_objects_pass_and_the_rest_does_not() {
        for ok in [
            &br#"{"a":1,"b":"x","c":[{"a":2}],"d":-1.5e3,"e":"\u00e9\\u0000"}"#[..],
            br#"  {"sub":"1"}"#,
            "{\"é\":\"ü\"}".as_bytes(),
        ] {
            assert!(
                strict_json_object(ok).is_ok(),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(40), "]".repeat(40));
        let many: String = (0..=MAX_MEMBERS).map(|i| format!("\"m{i}\":0,")).collect();
        let many = format!("{{{}\"last\":0}}", many);
        for bad in [
            &b"[1,2]"[..],
            b"\"x\"",
            b"{\"a\":\"\xff\"}",
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\uDFFF"}"#,
            br#"{"a":"\u12"}"#,
            br#"{"a":1,"a":2}"#,
            br#"{"a":1,"\u0061":2}"#,
            br#"{"a":1e999}"#,
            br#"{"a":[-1e400]}"#,
            deep.as_bytes(),
            many.as_bytes(),
        ] {
            assert!(
                strict_json_object(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
