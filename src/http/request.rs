//! What the HTTP layer reads off a request: the headers it looks at, the credential and the CSRF
//! rule, the body under its size limit, and the JSON in it.

use std::future::Future;
use std::net::IpAddr;

use serde::de::DeserializeOwned;

use super::{HttpApi, HttpError, client_address};
use crate::error::Error;

/// Header lookup: all [`HttpApi`] needs of a framework's header map. Names are passed in
/// lower case; implementations match them case-insensitively.
///
/// The adapters implement it for their frameworks' header maps; `[(&str, &str)]` (name, value)
/// works for tests and for hosts that bring their own server.
pub trait Headers {
    /// Every value of `name`, in the order they arrived.
    fn get_all(&self, name: &str) -> impl Iterator<Item = &[u8]>;

    /// The first value of `name`, if it is visible ASCII (the rule of `HeaderValue::to_str`).
    fn get(&self, name: &str) -> Option<&str> {
        let value = self.get_all(name).next()?;
        let visible = |b: &u8| *b == b'\t' || (0x20..0x7f).contains(b);
        value
            .iter()
            .all(visible)
            .then(|| std::str::from_utf8(value).ok())?
    }
}

impl Headers for [(&str, &str)] {
    fn get_all(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

/// A request as [`HttpApi`] sees it, besides its body: what an adapter reads off its framework's
/// request type.
pub struct RequestHead<'a, H: ?Sized> {
    /// The method, upper-case (`GET`, `POST`, …).
    pub method: &'a str,
    /// The request URI's authority, if it has one: the `Host` of a request without that header.
    pub authority: Option<&'a str>,
    /// The headers.
    pub headers: &'a H,
    /// The TCP peer's address, if known.
    pub peer: Option<IpAddr>,
    /// The route's `{id}` segment, percent-decoded; `None` where the route has none or it is not
    /// UTF-8 (an id that names no resource: 404).
    pub id: Option<&'a str>,
    /// The request URI's query string (after `?`, not decoded), if it has a non-empty one.
    pub query: Option<&'a str>,
}

impl<'a, H: Headers + ?Sized> RequestHead<'a, H> {
    /// The header values authentication looks at.
    pub fn meta(&self) -> RequestMeta<'a> {
        let h = self.headers;
        RequestMeta {
            method: self.method,
            authorization: h.get("authorization"),
            cookie: h.get("cookie"),
            origin: h.get("origin"),
            sec_fetch_site: h.get("sec-fetch-site"),
            host: h.get("host").or(self.authority),
        }
    }
}

/// What the adapter saw of a request, for authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestMeta<'a> {
    /// The method, upper-case (`GET`, `POST`, …).
    pub method: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a str>,
    /// The `Host` header.
    pub host: Option<&'a str>,
}

/// Where a credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// `Authorization: Bearer …`.
    Bearer,
    /// The access-token cookie.
    Cookie,
}

/// Finds the credential: the bearer value if an `Authorization: Bearer` header is present (an
/// `Authorization` header of another scheme is an empty credential, refused), else the cookie.
/// Allocation-free.
pub(crate) fn extract_credential<'a>(
    meta: &RequestMeta<'a>,
    cookie_name: &str,
) -> Option<(&'a str, CredentialSource)> {
    if let Some(auth) = meta.authorization {
        let auth = auth.trim();
        let value = match auth.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => "",
        };
        return Some((value, CredentialSource::Bearer));
    }
    let value = cookie_value(meta.cookie?, cookie_name)?;
    Some((value, CredentialSource::Cookie))
}

/// The value of cookie `name` in a `Cookie` header (quotes removed), if present and not empty.
pub(crate) fn cookie_value<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies.split(';').find_map(|pair| {
        let (n, value) = pair.trim().split_once('=')?;
        (n == name && !value.is_empty()).then_some(value.trim_matches('"'))
    })
}

/// The CSRF rule for cookie-authenticated writes. Safe methods and bearer credentials pass.
pub(crate) fn check_csrf(
    meta: &RequestMeta<'_>,
    source: CredentialSource,
    allowed_origins: &[String],
) -> Result<(), Error> {
    if source == CredentialSource::Bearer || matches!(meta.method, "GET" | "HEAD" | "OPTIONS") {
        return Ok(());
    }
    if let Some(origin) = meta.origin {
        let same = meta.host.is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
        });
        if same
            || allowed_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
        {
            return Ok(());
        }
        return Err(Error::CrossOrigin);
    }
    match meta.sec_fetch_site {
        Some("same-origin") => Ok(()),
        _ => Err(Error::CrossOrigin),
    }
}

/// Why an adapter could not read a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// More bytes arrived than the limit allows: `413`.
    TooLarge,
    /// The body stream failed before its end: `400`.
    Unreadable,
}

impl From<BodyError> for HttpError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => HttpError::PayloadTooLarge,
            BodyError::Unreadable => HttpError::UnreadableBody,
        }
    }
}

/// A request body read up to [`HttpApi::body_limit`], with what the endpoints need besides the
/// bytes ([`HttpApi::limited_body`] reads one; `axum::LimitedBody` extracts one in a handler).
#[derive(Debug)]
pub struct LimitedBody<B> {
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The bytes.
    pub bytes: B,
    /// The client's address, if known: the TCP peer, or what a trusted proxy forwarded
    /// ([`client_address`]).
    pub client: Option<IpAddr>,
}

impl<B> LimitedBody<B> {
    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

impl<B: AsRef<[u8]>> LimitedBody<B> {
    /// The body as the JSON request `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        parse_json(self.content_type(), self.bytes.as_ref())
    }
}

/// Parses a JSON request body: 400 unless it is declared and is JSON, 422 when its fields do not
/// fit `T`.
pub(crate) fn parse_json<T: DeserializeOwned>(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T, HttpError> {
    let json = content_type.is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("application/json")
    });
    if !json {
        return Err(HttpError::NotJson);
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => HttpError::WrongFields,
        _ => HttpError::InvalidJson,
    })
}

impl HttpApi {
    /// Reads a request body under the configured limit: a declared `Content-Length` above it is
    /// refused (413) without reading; otherwise `read(limit)` reads the body, refusing (413) once
    /// more than `limit` bytes arrive. The one place the body rule is written; an adapter only
    /// supplies `read`.
    pub async fn limited_body<H, F, B>(
        &self,
        head: &RequestHead<'_, H>,
        read: impl FnOnce(usize) -> F,
    ) -> Result<LimitedBody<B>, HttpError>
    where
        H: Headers + ?Sized,
        F: Future<Output = Result<B, BodyError>>,
    {
        let limit = self.body_limit();
        let declared = head.headers.get("content-length");
        if declared
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > limit as u64)
        {
            return Err(HttpError::PayloadTooLarge);
        }
        let bytes = read(limit).await?;
        Ok(LimitedBody {
            content_type: head.headers.get("content-type").map(str::to_owned),
            bytes,
            client: self.client(head),
        })
    }

    /// The client address the limits count: the TCP peer, or what a trusted proxy forwarded
    /// ([`client_address`]).
    pub(crate) fn client<H: Headers + ?Sized>(&self, head: &RequestHead<'_, H>) -> Option<IpAddr> {
        let config = self.service().config();
        let forwarded = head.headers.get_all(config.forwarded_header.name());
        client_address(head.peer, forwarded, config)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn meta<'a>(method: &'a str) -> RequestMeta<'a> {
        RequestMeta {
            method,
            host: Some("app.example.com"),
            ..RequestMeta::default()
        }
    }

    #[test]
    fn bearer_wins_over_cookie() {
        let mut m = meta("GET");
        m.authorization = Some("Bearer abc");
        m.cookie = Some("assimetria_jwt=xyz");
        assert_eq!(
            extract_credential(&m, "assimetria_jwt"),
            Some(("abc", CredentialSource::Bearer))
        );
        m.authorization = Some("bearer   abc  ");
        assert_eq!(
            extract_credential(&m, "assimetria_jwt"),
            Some(("abc", CredentialSource::Bearer))
        );
        m.authorization = Some("Basic dXNlcjpwdw==");
        assert_eq!(
            extract_credential(&m, "assimetria_jwt"),
            Some(("", CredentialSource::Bearer))
        );
        m.authorization = None;
        m.cookie = Some("theme=dark; assimetria_jwt=xyz; other=1");
        assert_eq!(
            extract_credential(&m, "assimetria_jwt"),
            Some(("xyz", CredentialSource::Cookie))
        );
        m.cookie = Some("assimetria_jwt_other=1");
        assert_eq!(extract_credential(&m, "assimetria_jwt"), None);
    }

    /// Whether `part` lies inside `whole`: the extractor never invents or copies a credential.
    fn is_within(part: &str, whole: &str) -> bool {
        let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
        p >= w && p + part.len() <= w + whole.len()
    }

    proptest! {
        /// What the `credential` fuzz target checked of the extractor before it became private.
        #[test]
        fn extracted_credentials_come_from_their_header(
            authorization in proptest::option::of(".{0,40}"),
            cookie in proptest::option::of("[ -~]{0,40}(assimetria_jwt=[ -~]{0,20})?"),
            method in proptest::sample::select(vec!["GET", "POST", "DELETE", "PATCH"]),
        ) {
            let m = RequestMeta {
                method,
                authorization: authorization.as_deref(),
                cookie: cookie.as_deref(),
                ..RequestMeta::default()
            };
            let found = extract_credential(&m, "assimetria_jwt");
            match (found, m.authorization, m.cookie) {
                (Some((value, CredentialSource::Bearer)), Some(auth), _) => {
                    prop_assert!(value.is_empty() || is_within(value, auth));
                    prop_assert_eq!(value, value.trim());
                }
                (Some((value, CredentialSource::Cookie)), None, Some(cookie)) => {
                    prop_assert!(is_within(value, cookie));
                }
                (None, None, _) => {}
                (found, auth, cookie) => {
                    prop_assert!(false, "{found:?} from {auth:?} and {cookie:?}");
                }
            }
            if let Some((_, source)) = found
                && (source == CredentialSource::Bearer || method == "GET")
            {
                prop_assert!(check_csrf(&m, source, &[]).is_ok());
            }
        }
    }

    #[test]
    fn csrf_rule() {
        let allowed = vec!["https://admin.example.com".to_owned()];
        let mut m = meta("POST");
        assert!(check_csrf(&m, CredentialSource::Bearer, &allowed).is_ok());
        assert!(matches!(
            check_csrf(&m, CredentialSource::Cookie, &allowed),
            Err(Error::CrossOrigin)
        ));
        m.origin = Some("https://app.example.com");
        assert!(check_csrf(&m, CredentialSource::Cookie, &allowed).is_ok());
        m.origin = Some("https://evil.example");
        assert!(check_csrf(&m, CredentialSource::Cookie, &allowed).is_err());
        m.origin = Some("https://admin.example.com");
        assert!(check_csrf(&m, CredentialSource::Cookie, &allowed).is_ok());
        m.origin = None;
        m.sec_fetch_site = Some("same-origin");
        assert!(check_csrf(&m, CredentialSource::Cookie, &allowed).is_ok());
        m.sec_fetch_site = Some("cross-site");
        assert!(check_csrf(&m, CredentialSource::Cookie, &allowed).is_err());
        assert!(check_csrf(&meta("GET"), CredentialSource::Cookie, &allowed).is_ok());
    }

    #[test]
    fn meta_reads_the_headers_and_falls_back_to_the_authority() {
        let headers: &[(&str, &str)] = &[
            ("Authorization", "Bearer abc"),
            ("cookie", "a=b"),
            ("ORIGIN", "https://x.example"),
            ("sec-fetch-site", "same-origin"),
        ];
        let head = RequestHead {
            method: "POST",
            authority: Some("api.example.com"),
            headers,
            peer: None,
            id: None,
            query: None,
        };
        let m = head.meta();
        assert_eq!(m.method, "POST");
        assert_eq!(m.authorization, Some("Bearer abc"));
        assert_eq!(m.cookie, Some("a=b"));
        assert_eq!(m.origin, Some("https://x.example"));
        assert_eq!(m.sec_fetch_site, Some("same-origin"));
        assert_eq!(m.host, Some("api.example.com"));
        let with_host: &[(&str, &str)] = &[("host", "app.example.com")];
        let head = RequestHead {
            headers: with_host,
            ..head
        };
        assert_eq!(head.meta().host, Some("app.example.com"));
    }

    #[test]
    fn json_parsing_errors() {
        let ct = Some("application/json; charset=utf-8");
        #[derive(Debug, serde::Deserialize)]
        struct Email {
            #[allow(dead_code)]
            email: String,
        }
        assert!(matches!(
            parse_json::<Email>(ct, b"{"),
            Err(HttpError::InvalidJson)
        ));
        assert!(matches!(
            parse_json::<Email>(ct, b"{}"),
            Err(HttpError::WrongFields)
        ));
        assert!(matches!(
            parse_json::<Email>(Some("text/plain"), b"{\"email\":\"a\"}"),
            Err(HttpError::NotJson)
        ));
        assert!(parse_json::<Email>(ct, b"{\"email\":\"a\"}").is_ok());
    }
}
