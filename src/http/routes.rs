//! The endpoint table both adapters mount: each path of the seed's API, and the endpoint each
//! method reaches there.

/// One endpoint of the seed's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /api/auth/login` → 200 with the login body and the cookie.
    Login,
    /// `POST /api/auth/register` → 201 with the login body (the new user is signed in).
    Register,
    /// `POST /api/auth/refresh` → 200 `{"success", "token", "refresh_token"}` and a fresh cookie.
    /// With `refresh_cookie` on, the token may come from the `assimetria_refresh` cookie instead
    /// of the body (the CSRF rule then applies), and the new one goes back in it.
    Refresh,
    /// `POST /api/auth/logout[?scope=local|others|global]` → 200 `{"success": true}`; clears the
    /// cookies (unless `scope=others`, which keeps the caller signed in).
    Logout,
    /// `POST /api/auth/forgot-password` → 200 whatever the email.
    ForgotPassword,
    /// `POST /api/auth/reset-password` → 200.
    ResetPassword,
    /// `GET /api/auth/me` → 200 `{"success": true, "user": {…}}`.
    Me,
    /// `GET /api/auth/sessions` → 200 `{"success": true, "sessions": [{"id", "created_at",
    /// "last_used_at", "user_agent", "ip", "current"}]}`: the caller's live sessions.
    ListSessions,
    /// `DELETE /api/auth/sessions/{id}` → 200 `{"success": true}`; 404 unless it is one of the
    /// caller's live sessions.
    EndSession,
    /// `POST /api/auth/change-password` `{"current_password", "new_password"}` → 200; every other
    /// session of the user ends.
    ChangePassword,
    /// `POST /api/auth/verify-email` `{"token"}` → 200.
    VerifyEmail,
    /// `POST /api/auth/resend-verification` → 200 (a new mail unless already verified).
    ResendVerification,
    /// `POST /api/api-keys` → 201 `{"success", "key", "api_key"}`; the key appears only here.
    CreateApiKey,
    /// `GET /api/api-keys` → 200 `{"success", "api_keys": [...]}` without secrets.
    ListApiKeys,
    /// `DELETE /api/api-keys/{id}` → 200 `{"success": true}`.
    RevokeApiKey,
    /// `GET /api/users` → 200 `{"success", "users": [...]}`.
    ListUsers,
    /// `POST /api/users` `{"email", "password" | "password_hash", "role"?, "email_verified"?}`
    /// (needs `users:manage`) → 201 `{"success", "user"}`; 409 for a taken email.
    CreateUser,
    /// `PATCH /api/users/{id}` `{role}` → 200 `{"success", "user"}`.
    SetRole,
    /// `GET /.well-known/jwks.json`: the public keys, or 404 when the ring has none (HS256 only).
    Jwks,
}

impl Endpoint {
    /// Whether the endpoint needs a credential. Those endpoints authenticate (401, or 403 for a
    /// cross-origin cookie write) before reading any body.
    pub fn authenticated(self) -> bool {
        use Endpoint::*;
        matches!(
            self,
            Logout
                | Me
                | ListSessions
                | EndSession
                | ChangePassword
                | ResendVerification
                | CreateApiKey
                | ListApiKeys
                | RevokeApiKey
                | ListUsers
                | CreateUser
                | SetRole
        )
    }
}

/// The methods the endpoint table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET` (and `HEAD`: see [`Route::endpoint`]).
    Get,
    /// `POST`.
    Post,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name, upper-case.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One path of the seed's API and the endpoint each method reaches there. Any other method on
/// the path answers 405 with `Allow` ([`HttpApi::serve`](super::HttpApi::serve)); a path not in
/// [`ROUTES`] answers 404 ([`HttpApi::not_found`](super::HttpApi::not_found)). Paths use the `{id}` syntax of axum 0.8 and actix-web.
#[derive(Debug)]
pub struct Route {
    /// The path.
    pub path: &'static str,
    /// The methods it answers, and with which endpoint.
    pub methods: &'static [(Method, Endpoint)],
}

impl Route {
    /// The endpoint `method` reaches on this path; `HEAD` reaches the `GET` endpoint (RFC 9110
    /// §9.3.2: the same answer, without the body the server then leaves out).
    pub fn endpoint(&self, method: &str) -> Option<Endpoint> {
        let method = if method == "HEAD" { "GET" } else { method };
        let found = self.methods.iter().find(|(m, _)| m.as_str() == method);
        found.map(|&(_, endpoint)| endpoint)
    }

    /// The `Allow` header of a 405 on this path: its methods, `HEAD` after `GET`.
    pub(super) fn allow(&self) -> String {
        let mut allow = Vec::with_capacity(self.methods.len() + 1);
        for &(method, _) in self.methods {
            allow.push(method.as_str());
            if method == Method::Get {
                allow.push("HEAD");
            }
        }
        allow.join(",")
    }
}

/// The seed's routes, and the account routes beside them: the one table every adapter mounts.
pub const ROUTES: &[Route] = &[
    route("/api/auth/login", &[(Method::Post, Endpoint::Login)]),
    route("/api/auth/register", &[(Method::Post, Endpoint::Register)]),
    route("/api/auth/refresh", &[(Method::Post, Endpoint::Refresh)]),
    route("/api/auth/logout", &[(Method::Post, Endpoint::Logout)]),
    route(
        "/api/auth/forgot-password",
        &[(Method::Post, Endpoint::ForgotPassword)],
    ),
    route(
        "/api/auth/reset-password",
        &[(Method::Post, Endpoint::ResetPassword)],
    ),
    route("/api/auth/me", &[(Method::Get, Endpoint::Me)]),
    route(
        "/api/auth/sessions",
        &[(Method::Get, Endpoint::ListSessions)],
    ),
    route(
        "/api/auth/sessions/{id}",
        &[(Method::Delete, Endpoint::EndSession)],
    ),
    route(
        "/api/auth/change-password",
        &[(Method::Post, Endpoint::ChangePassword)],
    ),
    route(
        "/api/auth/verify-email",
        &[(Method::Post, Endpoint::VerifyEmail)],
    ),
    route(
        "/api/auth/resend-verification",
        &[(Method::Post, Endpoint::ResendVerification)],
    ),
    route(
        "/api/api-keys",
        &[
            (Method::Post, Endpoint::CreateApiKey),
            (Method::Get, Endpoint::ListApiKeys),
        ],
    ),
    route(
        "/api/api-keys/{id}",
        &[(Method::Delete, Endpoint::RevokeApiKey)],
    ),
    route(
        "/api/users",
        &[
            (Method::Get, Endpoint::ListUsers),
            (Method::Post, Endpoint::CreateUser),
        ],
    ),
    route("/api/users/{id}", &[(Method::Patch, Endpoint::SetRole)]),
    route("/.well-known/jwks.json", &[(Method::Get, Endpoint::Jwks)]),
];

const fn route(path: &'static str, methods: &'static [(Method, Endpoint)]) -> Route {
    Route { path, methods }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> &'static Route {
        ROUTES.iter().find(|r| r.path == path).unwrap()
    }

    #[test]
    fn the_table_mounts_every_endpoint_once_on_distinct_paths() {
        let mut endpoints: Vec<Endpoint> = ROUTES
            .iter()
            .flat_map(|r| r.methods.iter().map(|&(_, e)| e))
            .collect();
        assert_eq!(endpoints.len(), 19);
        endpoints.sort_by_key(|e| format!("{e:?}"));
        endpoints.dedup();
        assert_eq!(endpoints.len(), 19);
        let mut paths: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ROUTES.len());
        assert_eq!(route("/api/auth/me").endpoint("HEAD"), Some(Endpoint::Me));
        assert_eq!(route("/api/auth/login").endpoint("HEAD"), None);
        assert_eq!(route("/api/auth/login").endpoint("post"), None);
    }
}
