//! The one dispatch behind the endpoint table: authenticate where the endpoint needs it, read
//! and parse the body, run the flow, build the reply in the seed's shapes.

use std::future::Future;

use super::bodies::{
    ChangePasswordRequest, CreateApiKeyRequest, Credentials, ForgotRequest, MessageBody,
    RefreshRequest, ResetRequest, SessionBody, SetRoleRequest, Success, UserBody,
    VerifyEmailRequest,
};
use super::request::{CredentialSource, check_csrf, cookie_value};
use super::{
    Authentication, BodyError, Endpoint, Headers, HttpApi, HttpError, Reply, RequestHead, Route,
};
use crate::error::{Error, ValidationError};
use crate::secret::{AccessToken, RefreshToken};
use crate::service::{ClientInfo, ImportRecord, LogoutScope, SignUp, UserInfo};

/// Why an endpoint did not succeed; each kind has its reply.
enum Failure {
    /// Authentication refused the request; the reply is decided.
    Refused(Reply),
    Core(Error),
    Http(HttpError),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Self {
        Failure::Http(e)
    }
}

const OK: Success = Success { success: true };

impl HttpApi {
    /// Serves one request to a path of [`ROUTES`](super::ROUTES): the method picks the endpoint
    /// ([`Route::endpoint`]; any other answers 405, with `Allow`, before anything else is looked
    /// at), then [`handle`](Self::handle) serves it.
    pub async fn serve<H, F, B>(
        &self,
        route: &Route,
        head: &RequestHead<'_, H>,
        read_body: impl FnOnce(usize) -> F,
    ) -> Reply
    where
        H: Headers + ?Sized,
        F: Future<Output = Result<B, BodyError>>,
        B: AsRef<[u8]>,
    {
        self.route(route, head, None, read_body).await
    }

    /// Like [`serve`](Self::serve), for a request the adapter's middleware has already
    /// authenticated: the endpoints that need a credential take `found` (made by this API's
    /// service, for this very request) instead of authenticating again.
    pub async fn serve_authenticated<H, F, B>(
        &self,
        route: &Route,
        head: &RequestHead<'_, H>,
        found: &Authentication,
        read_body: impl FnOnce(usize) -> F,
    ) -> Reply
    where
        H: Headers + ?Sized,
        F: Future<Output = Result<B, BodyError>>,
        B: AsRef<[u8]>,
    {
        self.route(route, head, Some(found), read_body).await
    }

    async fn route<H, F, B>(
        &self,
        route: &Route,
        head: &RequestHead<'_, H>,
        found: Option<&Authentication>,
        read_body: impl FnOnce(usize) -> F,
    ) -> Reply
    where
        H: Headers + ?Sized,
        F: Future<Output = Result<B, BodyError>>,
        B: AsRef<[u8]>,
    {
        // Another service's outcome is no authentication for this one.
        let found = found.filter(|found| self.made(found));
        match route.endpoint(head.method) {
            Some(endpoint) => self.answer(endpoint, head, found, read_body).await,
            None => self
                .method_not_allowed()
                .with_header("allow", route.allow()),
        }
    }

    /// Serves one request to `endpoint`, whatever its method. On an
    /// [authenticated](Endpoint::authenticated) endpoint the credential is checked first (401 /
    /// 403); then the body, if the endpoint takes one, is read by [`limited_body`](Self::limited_body)
    /// with `read_body` (413 past the limit) and parsed (400 / 422); then the flow runs. Every
    /// outcome is a [`Reply`] in the seed's shapes.
    pub async fn handle<H, F, B>(
        &self,
        endpoint: Endpoint,
        head: &RequestHead<'_, H>,
        read_body: impl FnOnce(usize) -> F,
    ) -> Reply
    where
        H: Headers + ?Sized,
        F: Future<Output = Result<B, BodyError>>,
        B: AsRef<[u8]>,
    {
        self.answer(endpoint, head, None, read_body).await
    }

    async fn answer<H, F, B>(
        &self,
        endpoint: Endpoint,
        head: &RequestHead<'_, H>,
        found: Option<&Authentication>,
        read_body: impl FnOnce(usize) -> F,
    ) -> Reply
    where
        H: Headers + ?Sized,
        F: Future<Output = Result<B, BodyError>>,
        B: AsRef<[u8]>,
    {
        match self.dispatch(endpoint, head, found, read_body).await {
            Ok(reply) | Err(Failure::Refused(reply)) => reply,
            Err(Failure::Core(e)) => Reply::error(&e, endpoint.authenticated()),
            Err(Failure::Http(e)) => Reply::from(&e),
        }
    }

    async fn dispatch<H, F, B>(
        &self,
        endpoint: Endpoint,
        head: &RequestHead<'_, H>,
        found: Option<&Authentication>,
        read_body: impl FnOnce(usize) -> F,
    ) -> Result<Reply, Failure>
    where
        H: Headers + ?Sized,
        F: Future<Output = Result<B, BodyError>>,
        B: AsRef<[u8]>,
    {
        let service = self.service();
        // The middleware's outcome when it ran, else authenticate here.
        let principal = || async {
            let outcome = match found {
                Some(found) => found.shared_principal().cloned().map_err(Reply::clone),
                None => self.authenticate(&head.meta()).await,
            };
            outcome.map_err(Failure::Refused)
        };
        let body = || self.limited_body(head, read_body);
        let id = || -> Result<i64, Error> {
            let id = head.id.unwrap_or_default();
            id.parse().map_err(|_| Error::NotFound)
        };
        Ok(match endpoint {
            Endpoint::Login | Endpoint::Register => {
                let body = body().await?;
                let req: Credentials = body.json()?;
                let client = ClientInfo::new(body.client, head.headers.get("user-agent"));
                let (email, password) = (&req.email, &req.password);
                let (status, out) = if endpoint == Endpoint::Login {
                    (200, service.login_from(email, password, &client).await?)
                } else {
                    match service.sign_up(email, password, &client).await? {
                        SignUp::SignedIn(out) => (201, out),
                        SignUp::VerificationRequired(user) => {
                            let message = "Account created. Follow the link mailed to your \
                                           address to verify it, then sign in.";
                            let body = UserBody {
                                success: true,
                                user: &user,
                                message: Some(message),
                            };
                            return Ok(Reply::json(201, &body));
                        }
                    }
                };
                let tokens = (&out.access_token, &out.refresh_token, out.expires_in);
                self.session_reply(status, tokens, Some(&out.user))
            }
            Endpoint::Refresh => {
                let body = body().await?;
                let token = self.presented_refresh_token(head, &body)?;
                let out = service.refresh(&token).await?;
                let tokens = (&out.access_token, &out.refresh_token, out.expires_in);
                self.session_reply(200, tokens, None)
            }
            Endpoint::Logout => {
                let p = principal().await?;
                let scope = match query_param(head.query, "scope") {
                    None => LogoutScope::Local,
                    Some(s) => {
                        LogoutScope::parse(s).ok_or(Error::from(ValidationError::LogoutScope))?
                    }
                };
                service.logout_scope(&p, scope).await?;
                let reply = Reply::json(200, &OK);
                if scope == LogoutScope::Others {
                    reply
                } else {
                    self.clear_cookies(reply)
                }
            }
            Endpoint::ForgotPassword => {
                let body = body().await?;
                let req: ForgotRequest = body.json()?;
                service.forgot_password(&req.email, body.client).await?;
                message("If an account exists for that email, a password reset link has been sent.")
            }
            Endpoint::ResetPassword => {
                let req: ResetRequest = body().await?.json()?;
                service.reset_password(&req.token, &req.password).await?;
                message("Password has been reset. Sign in with the new password.")
            }
            Endpoint::Me => user_reply(&service.me(&*principal().await?).await?),
            Endpoint::ListSessions => {
                let sessions = service.list_sessions(&*principal().await?).await?;
                let body = serde_json::json!({ "success": true, "sessions": sessions });
                Reply::json(200, &body).with_header("cache-control", "no-store".into())
            }
            Endpoint::EndSession => {
                let p = principal().await?;
                let id = head.id.ok_or(Error::NotFound)?;
                service.end_session(&p, id).await?;
                Reply::json(200, &OK)
            }
            Endpoint::ChangePassword => {
                let p = principal().await?;
                let body = body().await?;
                let req: ChangePasswordRequest = body.json()?;
                let (current, new) = (&req.current_password, &req.new_password);
                service
                    .change_password(&p, current, new, body.client)
                    .await?;
                message("Password changed. Your other sessions have been signed out.")
            }
            Endpoint::VerifyEmail => {
                let body = body().await?;
                let req: VerifyEmailRequest = body.json()?;
                service.verify_email(&req.token, body.client).await?;
                message("Email address verified.")
            }
            Endpoint::ResendVerification => {
                let p = principal().await?;
                service.resend_verification(&p, self.client(head)).await?;
                message(
                    "If the address is not verified yet, a new verification link has been sent.",
                )
            }
            Endpoint::CreateApiKey => {
                let p = principal().await?;
                let req: CreateApiKeyRequest = body().await?.json()?;
                let created = service
                    .create_api_key(&p, &req.name, req.environment, req.role)
                    .await?;
                let body = serde_json::json!({
                    "success": true,
                    "key": created.key.expose(),
                    "api_key": created.info,
                });
                Reply::json(201, &body).with_header("cache-control", "no-store".into())
            }
            Endpoint::ListApiKeys => {
                let keys = service.list_api_keys(&*principal().await?).await?;
                Reply::json(
                    200,
                    &serde_json::json!({ "success": true, "api_keys": keys }),
                )
            }
            Endpoint::RevokeApiKey => {
                let p = principal().await?;
                service.revoke_api_key(&p, id()?).await?;
                Reply::json(200, &OK)
            }
            Endpoint::ListUsers => {
                let users = service.list_users(&*principal().await?).await?;
                Reply::json(200, &serde_json::json!({ "success": true, "users": users }))
            }
            Endpoint::CreateUser => {
                let p = principal().await?;
                let req: ImportRecord = body().await?.json()?;
                let user = service.add_user(&p, req).await?;
                let body = UserBody {
                    success: true,
                    user: &user,
                    message: None,
                };
                Reply::json(201, &body)
            }
            Endpoint::SetRole => {
                let p = principal().await?;
                let body = body().await?;
                let id = id()?;
                let req: SetRoleRequest = body.json()?;
                user_reply(&service.set_role(&p, id, req.role).await?)
            }
            Endpoint::Jwks => {
                let ring = service.key_ring();
                if !ring.has_public_keys() {
                    return Err(Error::NotFound.into());
                }
                Reply::json(200, &ring.jwks())
                    .with_header("cache-control", "public, max-age=300".into())
            }
        })
    }

    /// A cookie `name=value` with the configured `Secure` and `Domain`, for `max_age` seconds (0
    /// clears it).
    fn cookie(
        &self,
        (name, value): (&str, &str),
        same_site: &str,
        path: &str,
        max_age: i64,
    ) -> String {
        let c = &self.service().config().cookie;
        let mut s = format!(
            "{name}={value}; HttpOnly; {}SameSite={same_site}; Path={path}; Max-Age={max_age}",
            if c.secure { "Secure; " } else { "" },
        );
        if let Some(domain) = &c.domain {
            s.push_str("; Domain=");
            s.push_str(domain);
        }
        s
    }

    /// The access-token cookie holding `token` for `max_age` seconds (0 clears it).
    fn access_cookie(&self, token: &str, max_age: i64) -> String {
        let c = &self.service().config().cookie;
        self.cookie((&c.name, token), c.same_site.as_str(), &c.path, max_age)
    }

    /// The refresh-token cookie holding `token` for `max_age` seconds (0 clears it): only the
    /// auth routes ever receive it, and no cross-site request carries it.
    fn refresh_cookie(&self, token: &str, max_age: i64) -> String {
        self.cookie(
            (REFRESH_COOKIE, token),
            "Strict",
            REFRESH_COOKIE_PATH,
            max_age,
        )
    }

    /// `reply` with the access cookie cleared, and the refresh cookie when it is on.
    fn clear_cookies(&self, reply: Reply) -> Reply {
        let reply = reply.with_header("set-cookie", self.access_cookie("", 0));
        if self.service().config().refresh_cookie {
            reply.with_header("set-cookie", self.refresh_cookie("", 0))
        } else {
            reply
        }
    }

    /// The refresh token a refresh presents: the body's, else (with the refresh cookie on) the
    /// cookie's, under the CSRF rule of cookie-authenticated writes. Without either, the seed's
    /// answer to a body without the field (422), or with the cookie on, 401.
    fn presented_refresh_token<H, B>(
        &self,
        head: &RequestHead<'_, H>,
        body: &super::LimitedBody<B>,
    ) -> Result<RefreshToken, Failure>
    where
        H: Headers + ?Sized,
        B: AsRef<[u8]>,
    {
        let config = self.service().config();
        if !config.refresh_cookie {
            let req: RefreshRequest = body.json()?;
            return req
                .refresh_token
                .ok_or_else(|| HttpError::WrongFields.into());
        }
        // An empty body is allowed here: the token is in the cookie.
        let bytes = body.bytes.as_ref();
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let req: RefreshRequest = body.json()?;
            if let Some(token) = req.refresh_token {
                return Ok(token);
            }
        }
        let meta = head.meta();
        let token = meta
            .cookie
            .and_then(|c| cookie_value(c, REFRESH_COOKIE))
            .ok_or(Error::MissingCredentials)?;
        check_csrf(&meta, CredentialSource::Cookie, &config.allowed_origins)?;
        Ok(RefreshToken::new(token))
    }

    /// A new token pair's reply: the tokens (and the user, at sign-in) and the cookies. With the
    /// refresh cookie on, the refresh token goes in its cookie and not in the body.
    fn session_reply(
        &self,
        status: u16,
        (access, refresh, expires_in): (&AccessToken, &RefreshToken, i64),
        user: Option<&UserInfo>,
    ) -> Reply {
        let config = self.service().config();
        let in_cookie = config.refresh_cookie;
        let body = SessionBody {
            success: true,
            token: access.expose(),
            refresh_token: (!in_cookie).then(|| refresh.expose()),
            user,
        };
        let reply = Reply::json(status, &body)
            .with_header(
                "set-cookie",
                self.access_cookie(access.expose(), expires_in),
            )
            .with_header("cache-control", "no-store".into());
        if in_cookie {
            let max_age = crate::clock::secs(config.refresh_ttl);
            reply.with_header("set-cookie", self.refresh_cookie(refresh.expose(), max_age))
        } else {
            reply
        }
    }
}

/// The refresh-token cookie's name.
pub const REFRESH_COOKIE: &str = "assimetria_refresh";

/// The refresh-token cookie's path: the auth routes only.
const REFRESH_COOKIE_PATH: &str = "/api/auth";

/// The first value of `name` in a query string (not percent-decoded: the values read here are
/// plain words).
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        (n == name).then_some(v)
    })
}

fn message(message: &'static str) -> Reply {
    let body = MessageBody {
        success: true,
        message,
    };
    Reply::json(200, &body)
}

fn user_reply(user: &UserInfo) -> Reply {
    let body = UserBody {
        success: true,
        user,
        message: None,
    };
    Reply::json(200, &body)
}

#[cfg(test)]
mod tests;
