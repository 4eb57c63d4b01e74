//! The seed's HTTP API, framework-agnostic.
//!
//! Both adapters ([`crate::axum`] and, later, actix-web) call [`HttpApi`], which takes bytes and a
//! few header values and returns a [`Reply`]: status, headers and a JSON body in the seed's shapes.
//! Everything the wire contract decides lives here, once, so the adapters cannot drift:
//!
//! * bodies: `{"success": true, "token", "refresh_token", "user": {"id", "email", "role"}}`, and
//!   errors as `{"success": false, "error": "<code>", "message": "<text>"}`;
//! * the cookie: `assimetria_jwt=<token>; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=86400`;
//! * credentials: `Authorization: Bearer <jwt | osk_ key>`, else the cookie;
//! * the CSRF rule: a cookie-authenticated `POST`/`PUT`/`PATCH`/`DELETE` needs an `Origin` (or
//!   `Sec-Fetch-Site: same-origin`) showing the request's own origin or an allowed one; bearer
//!   requests are exempt, since a browser never attaches them on its own;
//! * `401` with `WWW-Authenticate: Bearer` (RFC 6750; `error="invalid_token"` when a token was
//!   presented), `429` with `Retry-After`, `413` past the body limit (default 64 KiB);
//! * the client address the limits count: the TCP peer, or behind a configured trusted proxy
//!   the address it forwarded ([`client_address`]).

use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api_key::Environment;
use crate::error::Error;
use crate::rbac::{Permission, Role};
use crate::secret::{Password, RefreshToken, ResetToken};
use crate::service::{AuthService, Principal, UserInfo};

mod forwarded;

pub use forwarded::client_address;

/// A response to send: status, extra headers, JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Headers besides `Content-Type: application/json` (which every reply has).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON reply.
    pub fn json<T: Serialize>(status: u16, body: &T) -> Self {
        let body = serde_json::to_vec(body).unwrap_or_else(|_| {
            br#"{"success":false,"error":"internal_error","message":"internal server error"}"#
                .to_vec()
        });
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// The error reply for `err`, in the seed's shape. `token_presented` adds
    /// `error="invalid_token"` to the `WWW-Authenticate` header of a 401.
    pub fn error(err: &Error, token_presented: bool) -> Self {
        let status = err.status();
        if status >= 500 {
            tracing::error!(error = %err, source = ?std::error::Error::source(err), "request failed");
        }
        let mut reply = Self::json(
            status,
            &ErrorBody {
                success: false,
                error: err.code(),
                message: &err.public_message(),
            },
        );
        if status == 401 {
            let value = if token_presented {
                r#"Bearer error="invalid_token""#.to_owned()
            } else {
                "Bearer".to_owned()
            };
            reply.headers.push(("www-authenticate", value));
        }
        if let Error::RateLimited { retry_after } = err {
            reply
                .headers
                .push(("retry-after", retry_after.as_secs().max(1).to_string()));
        }
        reply
    }

    fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The value of an extra header set on this reply.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The error body: `{"success": false, "error", "message"}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// Always `false`.
    pub success: bool,
    /// Machine-readable code ([`Error::code`]).
    pub error: &'static str,
    /// Human-readable text.
    pub message: &'a str,
}

/// `POST /api/auth/login` and `/register` request.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    /// Email.
    pub email: String,
    /// Password.
    pub password: Password,
}

/// `POST /api/auth/refresh` request.
#[derive(Debug, Deserialize)]
pub struct RefreshRequest {
    /// The refresh token to spend.
    pub refresh_token: RefreshToken,
}

/// `POST /api/auth/forgot-password` request.
#[derive(Debug, Deserialize)]
pub struct ForgotRequest {
    /// Email.
    pub email: String,
}

/// `POST /api/auth/reset-password` request.
#[derive(Debug, Deserialize)]
pub struct ResetRequest {
    /// The reset token from the mail.
    pub token: ResetToken,
    /// The new password.
    pub password: Password,
}

/// `POST /api/api-keys` request.
#[derive(Debug, Deserialize)]
pub struct CreateApiKeyRequest {
    /// A human name.
    pub name: String,
    /// `live` or `test`.
    pub environment: Environment,
    /// The key's role (default viewer; at most the creator's).
    #[serde(default)]
    pub role: Option<Role>,
}

/// `PATCH /api/users/{id}` request.
#[derive(Debug, Deserialize)]
pub struct SetRoleRequest {
    /// The new role.
    pub role: Role,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    success: bool,
    token: &'a str,
    refresh_token: &'a str,
    user: &'a UserInfo,
}

#[derive(Serialize)]
struct RefreshBody<'a> {
    success: bool,
    token: &'a str,
    refresh_token: &'a str,
}

#[derive(Serialize)]
struct Success {
    success: bool,
}

#[derive(Serialize)]
struct MessageBody {
    success: bool,
    message: &'static str,
}

#[derive(Serialize)]
struct UserBody<'a> {
    success: bool,
    user: &'a UserInfo,
}

/// A request body an adapter read up to [`HttpApi::body_limit`], with what the handlers need
/// besides the bytes. Each adapter implements its framework's body extractor for it.
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

/// The reply for a flow's result: `ok` builds the success, errors take the seed's shape.
/// `authenticated` marks routes where a credential was presented (for `WWW-Authenticate`).
fn answer<T>(result: Result<T, Error>, authenticated: bool, ok: impl FnOnce(T) -> Reply) -> Reply {
    match result {
        Ok(value) => ok(value),
        Err(e) => Reply::error(&e, authenticated),
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
pub enum CredentialSource {
    /// `Authorization: Bearer …`.
    Bearer,
    /// The access-token cookie.
    Cookie,
}

/// Finds the credential: the bearer value if an `Authorization: Bearer` header is present (an
/// `Authorization` header of another scheme is an empty credential, refused), else the cookie.
/// Allocation-free.
pub fn extract_credential<'a>(
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
    let cookies = meta.cookie?;
    cookies.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == cookie_name && !value.is_empty())
            .then_some((value.trim_matches('"'), CredentialSource::Cookie))
    })
}

/// The CSRF rule for cookie-authenticated writes. Safe methods and bearer credentials pass.
pub fn check_csrf(
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

/// The seed's HTTP API over an [`AuthService`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpApi {
    service: AuthService,
}

fn parse_json<T: DeserializeOwned>(content_type: Option<&str>, body: &[u8]) -> Result<T, Error> {
    let json = content_type.is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("application/json")
    });
    if !json {
        return Err(Error::MalformedRequest(
            "expected Content-Type: application/json".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Error::Validation(
                "the JSON body is missing a field or has a field of the wrong type",
            ),
            _ => Error::MalformedRequest("the body is not valid JSON".into()),
        }
    })
}

impl HttpApi {
    /// Wraps a service.
    pub fn new(service: AuthService) -> Self {
        Self { service }
    }

    /// The service.
    pub fn service(&self) -> &AuthService {
        &self.service
    }

    /// The configured body limit, for adapters to enforce before buffering.
    pub fn body_limit(&self) -> usize {
        self.service.config().body_limit
    }

    fn cookie(&self, token: &str, max_age: i64) -> String {
        let c = &self.service.config().cookie;
        let mut s = format!(
            "{}={}; HttpOnly; {}SameSite={}; Path={}; Max-Age={}",
            c.name,
            token,
            if c.secure { "Secure; " } else { "" },
            c.same_site.as_str(),
            c.path,
            max_age
        );
        if let Some(domain) = &c.domain {
            s.push_str("; Domain=");
            s.push_str(domain);
        }
        s
    }

    fn login_reply(&self, status: u16, out: &crate::service::LoginOutcome) -> Reply {
        Reply::json(
            status,
            &LoginBody {
                success: true,
                token: out.access_token.expose(),
                refresh_token: out.refresh_token.expose(),
                user: &out.user,
            },
        )
        .with_header(
            "set-cookie",
            self.cookie(out.access_token.expose(), out.expires_in),
        )
        .with_header("cache-control", "no-store".into())
    }

    /// Authenticates a request: finds the credential, applies the CSRF rule, verifies it.
    /// The `Err` is the reply to send (401 or 403).
    pub async fn authenticate(&self, meta: &RequestMeta<'_>) -> Result<Principal, Reply> {
        let config = self.service.config();
        let Some((credential, source)) = extract_credential(meta, &config.cookie.name) else {
            return Err(Reply::error(&Error::MissingCredentials, false));
        };
        check_csrf(meta, source, &config.allowed_origins).map_err(|e| Reply::error(&e, true))?;
        self.service
            .authenticate(credential)
            .await
            .map_err(|e| Reply::error(&e, !credential.is_empty()))
    }

    /// Like [`authenticate`](Self::authenticate), then requires `permission` (403 if missing).
    pub async fn authorize(
        &self,
        meta: &RequestMeta<'_>,
        permission: Permission,
    ) -> Result<Principal, Reply> {
        let p = self.authenticate(meta).await?;
        self.service
            .require(&p, permission)
            .map_err(|e| Reply::error(&e, true))?;
        Ok(p)
    }

    /// `POST /api/auth/login` → 200 with the login body and the cookie.
    pub async fn login(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        client: Option<IpAddr>,
    ) -> Reply {
        let result = async {
            let req: Credentials = parse_json(content_type, body)?;
            self.service.login(&req.email, &req.password, client).await
        }
        .await;
        answer(result, false, |out| self.login_reply(200, &out))
    }

    /// `POST /api/auth/register` → 201 with the login body (the new user is signed in).
    pub async fn register(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        client: Option<IpAddr>,
    ) -> Reply {
        let result = async {
            let req: Credentials = parse_json(content_type, body)?;
            self.service
                .register(&req.email, &req.password, client)
                .await
        }
        .await;
        answer(result, false, |out| self.login_reply(201, &out))
    }

    /// `POST /api/auth/refresh` → 200 `{"success", "token", "refresh_token"}` and a fresh cookie.
    pub async fn refresh(&self, content_type: Option<&str>, body: &[u8]) -> Reply {
        let result = async {
            let req: RefreshRequest = parse_json(content_type, body)?;
            self.service.refresh(&req.refresh_token).await
        }
        .await;
        answer(result, false, |out| {
            Reply::json(
                200,
                &RefreshBody {
                    success: true,
                    token: out.access_token.expose(),
                    refresh_token: out.refresh_token.expose(),
                },
            )
            .with_header(
                "set-cookie",
                self.cookie(out.access_token.expose(), out.expires_in),
            )
            .with_header("cache-control", "no-store".into())
        })
    }

    /// `POST /api/auth/logout` → 200 `{"success": true}`; clears the cookie.
    pub async fn logout(&self, principal: &Principal) -> Reply {
        answer(self.service.logout(principal).await, true, |()| {
            Reply::json(200, &Success { success: true })
                .with_header("set-cookie", self.cookie("", 0))
        })
    }

    /// `POST /api/auth/forgot-password` → 200 whatever the email.
    pub async fn forgot_password(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        client: Option<IpAddr>,
    ) -> Reply {
        let result = async {
            let req: ForgotRequest = parse_json(content_type, body)?;
            self.service.forgot_password(&req.email, client).await
        }
        .await;
        answer(result, false, |()| {
            Reply::json(
                200,
                &MessageBody {
                    success: true,
                    message: "If an account exists for that email, a password reset link has been sent.",
                },
            )
        })
    }

    /// `POST /api/auth/reset-password` → 200.
    pub async fn reset_password(&self, content_type: Option<&str>, body: &[u8]) -> Reply {
        let result = async {
            let req: ResetRequest = parse_json(content_type, body)?;
            self.service.reset_password(&req.token, &req.password).await
        }
        .await;
        answer(result, false, |()| {
            Reply::json(
                200,
                &MessageBody {
                    success: true,
                    message: "Password has been reset. Sign in with the new password.",
                },
            )
        })
    }

    /// `GET /api/auth/me` → 200 `{"success": true, "user": {…}}`.
    pub async fn me(&self, principal: &Principal) -> Reply {
        answer(self.service.me(principal).await, true, |user| {
            Reply::json(
                200,
                &UserBody {
                    success: true,
                    user: &user,
                },
            )
        })
    }

    /// `POST /api/api-keys` → 201 `{"success", "key", "api_key"}`; the key appears only here.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let result = async {
            let req: CreateApiKeyRequest = parse_json(content_type, body)?;
            self.service
                .create_api_key(principal, &req.name, req.environment, req.role)
                .await
        }
        .await;
        answer(result, true, |created| {
            Reply::json(
                201,
                &serde_json::json!({
                    "success": true,
                    "key": created.key.expose(),
                    "api_key": created.info,
                }),
            )
            .with_header("cache-control", "no-store".into())
        })
    }

    /// `GET /api/api-keys` → 200 `{"success", "api_keys": [...]}` without secrets.
    pub async fn list_api_keys(&self, principal: &Principal) -> Reply {
        answer(self.service.list_api_keys(principal).await, true, |keys| {
            Reply::json(
                200,
                &serde_json::json!({ "success": true, "api_keys": keys }),
            )
        })
    }

    /// `DELETE /api/api-keys/{id}` → 200 `{"success": true}`.
    pub async fn revoke_api_key(&self, principal: &Principal, id: &str) -> Reply {
        let result = async {
            let id: i64 = id.parse().map_err(|_| Error::NotFound)?;
            self.service.revoke_api_key(principal, id).await
        }
        .await;
        answer(result, true, |()| {
            Reply::json(200, &Success { success: true })
        })
    }

    /// `GET /api/users` → 200 `{"success", "users": [...]}`.
    pub async fn list_users(&self, principal: &Principal) -> Reply {
        answer(self.service.list_users(principal).await, true, |users| {
            Reply::json(200, &serde_json::json!({ "success": true, "users": users }))
        })
    }

    /// `PATCH /api/users/{id}` `{role}` → 200 `{"success", "user"}`.
    pub async fn set_role(
        &self,
        principal: &Principal,
        id: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let result = async {
            let id: i64 = id.parse().map_err(|_| Error::NotFound)?;
            let req: SetRoleRequest = parse_json(content_type, body)?;
            self.service.set_role(principal, id, req.role).await
        }
        .await;
        answer(result, true, |user| {
            Reply::json(
                200,
                &UserBody {
                    success: true,
                    user: &user,
                },
            )
        })
    }

    /// `GET /.well-known/jwks.json`: the public keys, or 404 when the ring has none (HS256 only).
    pub fn jwks(&self) -> Reply {
        let ring = self.service.key_ring();
        if ring.has_public_keys() {
            Reply::json(200, &ring.jwks())
                .with_header("cache-control", "public, max-age=300".into())
        } else {
            Reply::error(&Error::NotFound, false)
        }
    }

    /// The reply for an unknown route.
    pub fn not_found(&self) -> Reply {
        Reply::error(&Error::NotFound, false)
    }

    /// The reply for a known route with the wrong method.
    pub fn method_not_allowed(&self) -> Reply {
        Reply::error(&Error::MethodNotAllowed, false)
    }

    /// The reply for a body over the limit.
    pub fn payload_too_large(&self) -> Reply {
        Reply::error(&Error::PayloadTooLarge, false)
    }
}

#[cfg(test)]
mod tests {
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
    fn error_replies_have_the_seed_shape() {
        let r = Reply::error(&Error::InvalidCredentials, false);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["success"], false);
        assert_eq!(v["error"], "invalid_credentials");
        assert!(v["message"].is_string());
        let r = Reply::error(
            &Error::InvalidToken(crate::error::TokenError::Expired),
            true,
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
        let r = Reply::error(
            &Error::RateLimited {
                retry_after: std::time::Duration::from_secs(42),
            },
            false,
        );
        assert_eq!(r.header("retry-after"), Some("42"));
    }

    #[test]
    fn json_parsing_errors() {
        let ct = Some("application/json; charset=utf-8");
        assert!(matches!(
            parse_json::<ForgotRequest>(ct, b"{"),
            Err(Error::MalformedRequest(_))
        ));
        assert!(matches!(
            parse_json::<ForgotRequest>(ct, b"{}"),
            Err(Error::Validation(_))
        ));
        assert!(matches!(
            parse_json::<ForgotRequest>(Some("text/plain"), b"{\"email\":\"a\"}"),
            Err(Error::MalformedRequest(_))
        ));
        assert!(parse_json::<ForgotRequest>(ct, b"{\"email\":\"a\"}").is_ok());
    }
}
