//! The document's `components`: the wire bodies as JSON Schemas (2020-12, OpenAPI 3.1's
//! dialect), the error replies by status, and the security schemes.

use serde_json::{Map, Value, json};

use super::Wire;

/// Every error reply the endpoints give: (component name, status, the `error` codes that status
/// carries). The codes are those of [`crate::Error::code`] and [`crate::http::HttpError::code`];
/// a test builds every variant and checks that its status and code are listed here.
pub(super) const ERRORS: &[(&str, u16, &[&str])] = &[
    (
        "BadRequest",
        400,
        &[
            "bad_request",
            "invalid_reset_token",
            "invalid_verification_token",
        ],
    ),
    (
        "Unauthorized",
        401,
        &[
            "unauthorized",
            "invalid_credentials",
            "invalid_token",
            "invalid_refresh_token",
            "refresh_token_reused",
            "invalid_api_key",
        ],
    ),
    (
        "Forbidden",
        403,
        &[
            "forbidden",
            "cross_origin",
            "email_not_verified",
            "invalid_credentials",
        ],
    ),
    ("NotFound", 404, &["not_found"]),
    ("Conflict", 409, &["email_taken"]),
    ("PayloadTooLarge", 413, &["payload_too_large"]),
    (
        "ValidationError",
        422,
        &["validation_error", "invalid_password_hash"],
    ),
    ("TooManyRequests", 429, &["rate_limited"]),
    ("Overloaded", 503, &["overloaded"]),
];

/// The component name of the error reply for `status`.
pub(super) fn error_name(status: u16) -> &'static str {
    ERRORS
        .iter()
        .find(|(_, s, _)| *s == status)
        .map(|(name, _, _)| *name)
        .unwrap_or_else(|| panic!("no error reply documented for {status}"))
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An object schema: every listed property `required` unless its name ends in `?`; no other
/// property when `closed` (the replies: what the server writes, exactly).
fn object(props: &[(&str, Value)], closed: bool) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, schema) in props {
        let name = match name.strip_suffix('?') {
            Some(optional) => optional,
            None => {
                required.push(Value::from(*name));
                name
            }
        };
        properties.insert(name.to_owned(), schema.clone());
    }
    let mut o = json!({ "type": "object", "properties": properties, "required": required });
    if closed {
        o["additionalProperties"] = Value::Bool(false);
    }
    o
}

/// A reply body: `{"success": true, …}`, closed.
fn reply(props: &[(&str, Value)]) -> Value {
    let mut all = vec![("success", json!({ "const": true }))];
    all.extend(props.iter().cloned());
    object(&all, true)
}

/// A request body: unknown properties are ignored by the server, so they are allowed.
fn request(props: &[(&str, Value)]) -> Value {
    object(props, false)
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable_string() -> Value {
    json!({ "type": ["string", "null"] })
}

/// The schemas of every body, by name.
pub(super) fn schemas(wire: &Wire) -> Value {
    let roles: Vec<Value> = wire.roles.iter().map(|r| Value::from(r.as_str())).collect();
    let mut optional_roles = roles.clone();
    optional_roles.push(Value::Null);
    let user = || schema_ref("User");
    let mut s = Map::new();
    let mut put = |name: &str, schema: Value| s.insert(name.to_owned(), schema);

    put(
        "Error",
        json!({
            "type": "object",
            "description": "The seed's error shape: `error` is a machine-readable code, `message` a text for people.",
            "properties": {
                "success": { "const": false },
                "error": { "type": "string" },
                "message": { "type": "string", "minLength": 1 },
            },
            "required": ["success", "error", "message"],
            "additionalProperties": false,
        }),
    );
    put(
        "Role",
        json!({ "type": "string", "enum": roles, "description": "A role of the service's policy." }),
    );
    put(
        "Environment",
        json!({ "type": "string", "enum": ["live", "test"] }),
    );
    put(
        "User",
        object(
            &[
                ("id", json!({ "type": "integer", "format": "int64" })),
                ("email", string()),
                ("role", schema_ref("Role")),
                ("email_verified", json!({ "type": "boolean" })),
            ],
            true,
        ),
    );
    // The refresh token is in the body unless it travels in its own cookie.
    let refresh = if wire.refresh_cookie {
        "refresh_token?"
    } else {
        "refresh_token"
    };
    let refresh_field = if wire.refresh_cookie {
        json!({ "type": "string", "description": "Never sent: with the refresh cookie on, the token travels in `assimetria_refresh`." })
    } else {
        json!({ "type": "string", "description": "Single-use: each refresh hands out a new one." })
    };
    put(
        "SignedIn",
        reply(&[
            ("token", string()),
            (refresh, refresh_field.clone()),
            ("user", user()),
        ]),
    );
    put(
        "Refreshed",
        reply(&[("token", string()), (refresh, refresh_field)]),
    );
    put("Success", reply(&[]));
    put("Message", reply(&[("message", string())]));
    put(
        "UserReply",
        reply(&[("user", user()), ("message?", string())]),
    );
    put(
        "Session",
        object(
            &[
                ("id", string()),
                ("created_at", nullable_string()),
                ("last_used_at", nullable_string()),
                ("user_agent", nullable_string()),
                ("ip", nullable_string()),
                ("current", json!({ "type": "boolean" })),
            ],
            true,
        ),
    );
    put(
        "Sessions",
        reply(&[(
            "sessions",
            json!({ "type": "array", "items": schema_ref("Session") }),
        )]),
    );
    put(
        "ApiKey",
        object(
            &[
                ("id", json!({ "type": "integer", "format": "int64" })),
                ("name", string()),
                (
                    "prefix",
                    json!({ "type": "string", "description": "The key's first characters, for display." }),
                ),
                ("environment", schema_ref("Environment")),
                ("role", schema_ref("Role")),
                ("created_at", nullable_string()),
                ("last_used_at", nullable_string()),
                ("revoked_at?", string()),
            ],
            true,
        ),
    );
    let key_pattern = format!("^{}_(live|test)_", wire.api_key_prefix);
    put(
        "CreatedApiKey",
        reply(&[
            (
                "key",
                json!({ "type": "string", "pattern": key_pattern, "description": "The plaintext key: shown here only." }),
            ),
            ("api_key", schema_ref("ApiKey")),
        ]),
    );
    put(
        "ApiKeys",
        reply(&[(
            "api_keys",
            json!({ "type": "array", "items": schema_ref("ApiKey") }),
        )]),
    );
    put(
        "Users",
        reply(&[("users", json!({ "type": "array", "items": user() }))]),
    );
    let jwk = object(
        &[
            ("kty", json!({ "const": "OKP" })),
            ("crv", json!({ "const": "Ed25519" })),
            ("alg", json!({ "const": "EdDSA" })),
            ("use", json!({ "const": "sig" })),
            ("kid", string()),
            ("x", string()),
        ],
        true,
    );
    put(
        "Jwks",
        object(&[("keys", json!({ "type": "array", "items": jwk }))], true),
    );

    // Requests.
    // A new password meets the policy; a sign-in takes any (an imported one may be shorter).
    let new_password = json!({ "type": "string", "minLength": wire.min_password_chars });
    let email = json!({ "type": "string", "format": "email", "maxLength": 254 });
    put(
        "Credentials",
        request(&[("email", string()), ("password", string())]),
    );
    put(
        "SignUp",
        request(&[("email", email.clone()), ("password", new_password.clone())]),
    );
    let refresh_request = if wire.refresh_cookie {
        "refresh_token?"
    } else {
        "refresh_token"
    };
    put("RefreshRequest", request(&[(refresh_request, string())]));
    put("ForgotPasswordRequest", request(&[("email", string())]));
    put(
        "ResetPasswordRequest",
        request(&[("token", string()), ("password", new_password.clone())]),
    );
    put(
        "ChangePasswordRequest",
        request(&[
            ("current_password", string()),
            ("new_password", new_password.clone()),
        ]),
    );
    put("VerifyEmailRequest", request(&[("token", string())]));
    let optional_role =
        json!({ "enum": optional_roles, "description": "Absent or null: the default." });
    put(
        "CreateApiKeyRequest",
        request(&[
            (
                "name",
                json!({ "type": "string", "minLength": 1, "maxLength": 100 }),
            ),
            ("environment", schema_ref("Environment")),
            ("role?", optional_role.clone()),
        ]),
    );
    put(
        "CreateUserRequest",
        json!({
            "description": "Exactly one of `password` and `password_hash` (a PHC argon2/scrypt/pbkdf2-sha256 string or a bcrypt hash).",
            "type": "object",
            "properties": {
                "email": email,
                "password": { "type": ["string", "null"], "minLength": wire.min_password_chars },
                "password_hash": nullable_string(),
                "role": optional_role,
                "email_verified": { "type": "boolean" },
            },
            "required": ["email"],
        }),
    );
    put("SetRoleRequest", request(&[("role", schema_ref("Role"))]));
    Value::Object(s)
}

/// The error replies by status, each with the `error` codes it carries and its headers.
pub(super) fn responses() -> Value {
    let mut r = Map::new();
    for (name, status, codes) in ERRORS {
        let schema = json!({
            "allOf": [
                { "$ref": "#/components/schemas/Error" },
                { "properties": { "error": { "enum": codes } } },
            ],
        });
        let mut response = json!({
            "description": format!("{status}: `error` is one of {}.", codes.join(", ")),
            "content": { "application/json": { "schema": schema } },
        });
        let header = match status {
            401 => Some((
                "WWW-Authenticate",
                "`Bearer`, or `Bearer error=\"invalid_token\"` when a credential was presented.",
            )),
            429 => Some(("Retry-After", "Seconds to wait before trying again.")),
            _ => None,
        };
        if let Some((header, description)) = header {
            let schema = if *status == 429 {
                json!({ "type": "string", "pattern": "^[1-9][0-9]*$" })
            } else {
                json!({ "type": "string", "pattern": "^Bearer" })
            };
            response["headers"] = json!({
                header: { "description": description, "required": true, "schema": schema },
            });
        }
        r.insert((*name).to_owned(), response);
    }
    Value::Object(r)
}

/// The three ways a caller authenticates.
pub(super) fn security_schemes(wire: &Wire) -> Value {
    let prefix = &wire.api_key_prefix;
    json!({
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from login, register or refresh: `Authorization: Bearer <jwt>` (24 h).",
        },
        "apiKeyAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": format!("{prefix}_live_… / {prefix}_test_…"),
            "description": format!(
                "An organization API key, sent as a bearer token: `Authorization: Bearer {prefix}_live_…` (production) or `{prefix}_test_…` (sandbox). Keys do not expire; they are revoked."
            ),
        },
        "cookieAuth": {
            "type": "apiKey",
            "in": "cookie",
            "name": wire.cookie_name,
            "description": "The httpOnly cookie login sets, for browsers. A write (POST, PUT, PATCH, DELETE) with it needs an `Origin` of the request's own or an allowed origin (or `Sec-Fetch-Site: same-origin`), else 403 `cross_origin`.",
        },
    })
}
