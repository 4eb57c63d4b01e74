//! One operation per [`Endpoint`]: what it reads, what it answers, which credentials it takes.

use serde_json::{Map, Value, json};

use super::components::error_name;
use super::{Endpoint, REFRESH_COOKIE, Wire, security};

/// Who may call an endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// Anyone.
    Public,
    /// A user's access token or cookie; an API key is refused with 422 (it has no account or
    /// session to act on).
    User,
    /// An access token, the cookie, or an API key.
    Any,
}

/// What one endpoint reads and answers.
struct Spec {
    id: &'static str,
    summary: &'static str,
    auth: Auth,
    /// The request body's schema, and whether a body is required.
    body: Option<(&'static str, bool)>,
    /// The success status and its body's schema.
    success: (u16, &'static str),
    /// The error statuses besides the ones `auth` and `body` imply.
    errors: &'static [u16],
    /// Whether the success reply sets the cookies.
    sets_cookies: bool,
}

/// The endpoint's OpenAPI operation. One arm per endpoint, no wildcard: a new endpoint is
/// documented here or the crate does not compile.
pub(super) fn operation(endpoint: Endpoint, wire: &Wire) -> Value {
    use Endpoint::*;
    let spec = |id, summary, auth, body, success, errors, sets_cookies| Spec {
        id,
        summary,
        auth,
        body,
        success,
        errors,
        sets_cookies,
    };
    let verified = wire.require_verified_email;
    let s = match endpoint {
        Login => spec(
            "login",
            "Sign in with email and password",
            Auth::Public,
            Some(("Credentials", true)),
            (200, "SignedIn"),
            if verified {
                &[401, 403, 429, 503][..]
            } else {
                &[401, 429, 503][..]
            },
            true,
        ),
        Register => spec(
            "register",
            "Create an account",
            Auth::Public,
            Some(("SignUp", true)),
            (201, if verified { "UserReply" } else { "SignedIn" }),
            &[409, 429, 503],
            !verified,
        ),
        Refresh => spec(
            "refresh",
            "Trade a refresh token for a new token pair",
            Auth::Public,
            Some(("RefreshRequest", !wire.refresh_cookie)),
            (200, "Refreshed"),
            if wire.refresh_cookie {
                &[401, 403][..]
            } else {
                &[401][..]
            },
            true,
        ),
        Logout => spec(
            "logout",
            "End the current session (or others, or all)",
            Auth::User,
            None,
            (200, "Success"),
            &[],
            true,
        ),
        ForgotPassword => spec(
            "forgotPassword",
            "Mail a password-reset link (the same answer for any email)",
            Auth::Public,
            Some(("ForgotPasswordRequest", true)),
            (200, "Message"),
            &[429],
            false,
        ),
        ResetPassword => spec(
            "resetPassword",
            "Set a new password with a reset token",
            Auth::Public,
            Some(("ResetPasswordRequest", true)),
            (200, "Message"),
            &[503],
            false,
        ),
        Me => spec(
            "me",
            "The signed-in user (for an API key: its creator, with the key's role)",
            Auth::Any,
            None,
            (200, "UserReply"),
            &[],
            false,
        ),
        ListSessions => spec(
            "listSessions",
            "The caller's live sessions",
            Auth::User,
            None,
            (200, "Sessions"),
            &[],
            false,
        ),
        EndSession => spec(
            "endSession",
            "End one of the caller's sessions",
            Auth::User,
            None,
            (200, "Success"),
            &[404],
            false,
        ),
        ChangePassword => spec(
            "changePassword",
            "Change the password (every other session ends)",
            Auth::User,
            Some(("ChangePasswordRequest", true)),
            (200, "Message"),
            &[429, 503],
            false,
        ),
        VerifyEmail => spec(
            "verifyEmail",
            "Verify the email address with the mailed token",
            Auth::Public,
            Some(("VerifyEmailRequest", true)),
            (200, "Message"),
            &[429],
            false,
        ),
        ResendVerification => spec(
            "resendVerification",
            "Mail a new verification link",
            Auth::User,
            None,
            (200, "Message"),
            &[429],
            false,
        ),
        CreateApiKey => spec(
            "createApiKey",
            "Create an API key (the plaintext is in this reply only)",
            Auth::User,
            Some(("CreateApiKeyRequest", true)),
            (201, "CreatedApiKey"),
            &[],
            false,
        ),
        ListApiKeys => spec(
            "listApiKeys",
            "The organization's API keys, without secrets",
            Auth::Any,
            None,
            (200, "ApiKeys"),
            &[],
            false,
        ),
        RevokeApiKey => spec(
            "revokeApiKey",
            "Revoke an API key",
            Auth::Any,
            None,
            (200, "Success"),
            &[404],
            false,
        ),
        ListUsers => spec(
            "listUsers",
            "The organization's users",
            Auth::Any,
            None,
            (200, "Users"),
            &[],
            false,
        ),
        CreateUser => spec(
            "createUser",
            "Add a user (a plaintext password or another system's hash)",
            Auth::Any,
            Some(("CreateUserRequest", true)),
            (201, "UserReply"),
            &[409, 503],
            false,
        ),
        SetRole => spec(
            "setRole",
            "Change a user's role (their sessions end)",
            Auth::Any,
            Some(("SetRoleRequest", true)),
            (200, "UserReply"),
            &[404],
            false,
        ),
        Jwks => spec(
            "jwks",
            "The public signing keys (404 when the ring has none: HS256 only)",
            Auth::Public,
            None,
            (200, "Jwks"),
            &[404],
            false,
        ),
    };
    build(&s, endpoint, wire)
}

fn build(s: &Spec, endpoint: Endpoint, wire: &Wire) -> Value {
    let mut statuses: Vec<u16> = s.errors.to_vec();
    if s.auth != Auth::Public {
        // 401 without a valid credential; 403 for a missing permission or a cross-origin
        // cookie write (even GETs: a permission can be missing).
        statuses.extend([401, 403]);
    }
    if s.auth == Auth::User {
        statuses.push(422);
    }
    if s.body.is_some() {
        statuses.extend([400, 413, 422]);
    }
    statuses.sort_unstable();
    statuses.dedup();

    let (status, schema) = s.success;
    let mut success = json!({
        "description": s.summary,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
    });
    if s.sets_cookies {
        success["headers"] = json!({ "Set-Cookie": {
            "description": cookie_text(endpoint, wire),
            "schema": { "type": "string" },
        } });
    }
    let mut responses = Map::new();
    responses.insert(status.to_string(), success);
    for e in statuses {
        let r = json!({ "$ref": format!("#/components/responses/{}", error_name(e)) });
        responses.insert(e.to_string(), r);
    }

    let mut op = json!({
        "operationId": s.id,
        "summary": s.summary,
        "tags": [tag(endpoint)],
        "responses": responses,
    });
    op["security"] = match s.auth {
        Auth::Public => json!([{}]),
        Auth::User => security(false),
        Auth::Any => security(true),
    };
    if s.auth == Auth::User {
        op["description"] = Value::from(
            "Acts on the signed-in user's own account: an API key is refused (422 validation_error).",
        );
    }
    if let Some((schema, required)) = s.body {
        op["requestBody"] = json!({
            "required": required,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
        });
    }
    let mut parameters = Vec::new();
    if endpoint == Endpoint::Logout {
        parameters.push(json!({
            "name": "scope",
            "in": "query",
            "required": false,
            "description": "`local` (default): this session; `others`: every other session of the user (the caller stays signed in); `global`: all of them.",
            "schema": { "type": "string", "enum": ["local", "others", "global"] },
        }));
    }
    if endpoint == Endpoint::Refresh && wire.refresh_cookie {
        parameters.push(json!({
            "name": REFRESH_COOKIE,
            "in": "cookie",
            "required": false,
            "description": "The refresh token, when the body has none (the CSRF rule of cookie writes applies).",
            "schema": { "type": "string" },
        }));
    }
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }
    op
}

fn tag(endpoint: Endpoint) -> &'static str {
    use Endpoint::*;
    match endpoint {
        CreateApiKey | ListApiKeys | RevokeApiKey => "api-keys",
        ListUsers | CreateUser | SetRole => "users",
        Jwks => "keys",
        _ => "auth",
    }
}

fn cookie_text(endpoint: Endpoint, wire: &Wire) -> String {
    let name = &wire.cookie_name;
    let refresh = if wire.refresh_cookie {
        format!(" and `{REFRESH_COOKIE}` (the refresh token; Path=/api/auth, SameSite=Strict)")
    } else {
        String::new()
    };
    if endpoint == Endpoint::Logout {
        format!("Clears `{name}`{refresh} (not with `scope=others`).")
    } else {
        format!("`{name}`: the access token, HttpOnly{refresh}.")
    }
}
