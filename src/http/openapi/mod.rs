//! An OpenAPI 3.1 document of the endpoint table ([`ROUTES`]), for client generators, API
//! explorers and contract fuzzers.
//!
//! [`document`] describes every path and method of the table: parameters, request bodies, every
//! status each endpoint can answer with its body (the seed's error shape for every refusal, with
//! the `error` codes each status carries, `WWW-Authenticate` on 401 and `Retry-After` on 429) and
//! which credentials it takes. It is built from the running configuration, so it shows what
//! this deployment puts on the wire: the cookie's name, whether the refresh token travels in a
//! cookie or in the body, whether sign-up needs a verified address, the API-key prefix, the
//! policy's roles and the password policy's minimum length.
//!
//! The paths come from [`ROUTES`] and each [`Endpoint`] has its operation in one exhaustive
//! `match`, so a new endpoint does not compile until it is documented; the tests validate real
//! replies, over TCP, against the document's schemas.
//!
//! A host that serves routes of its own adds them to the returned value; its operations can
//! refer to this document's components: the schemas (`#/components/schemas/Error`, `User`,
//! `Role`, …), the error replies by name ([`error_response`]), and the security schemes
//! `bearerAuth` (access tokens), `apiKeyAuth` (API keys) and `cookieAuth` (the browser cookie)
//! ([`security`]); [`head_of`] makes the `HEAD` twin of a `GET` operation.
//!
//! ```
//! # async fn demo(api: assimetria_auth::http::HttpApi) {
//! let doc = assimetria_auth::http::openapi::document(&api);
//! assert_eq!(doc["openapi"], "3.1.0");
//! assert!(doc["paths"]["/api/auth/login"]["post"].is_object());
//! # }
//! ```

mod components;
mod operations;

use serde_json::{Map, Value, json};

use super::{Endpoint, HttpApi, Method, REFRESH_COOKIE, ROUTES};
use crate::rbac::Role;

/// What of the configuration changes the wire, read once.
pub(super) struct Wire {
    cookie_name: String,
    refresh_cookie: bool,
    require_verified_email: bool,
    api_key_prefix: String,
    roles: Vec<Role>,
    min_password_chars: usize,
}

impl Wire {
    fn of(api: &HttpApi) -> Self {
        let service = api.service();
        let config = service.config();
        Self {
            cookie_name: config.cookie.name.clone(),
            refresh_cookie: config.refresh_cookie,
            require_verified_email: config.require_verified_email,
            api_key_prefix: config.api_key_prefix.clone(),
            roles: service.policy().roles().into_iter().cloned().collect(),
            min_password_chars: config.password_policy.min_chars,
        }
    }
}

/// The OpenAPI 3.1 document of `api`'s endpoint table, for its configuration.
pub fn document(api: &HttpApi) -> Value {
    let wire = Wire::of(api);
    let mut paths = Map::new();
    for route in ROUTES {
        let mut item = Map::new();
        for &(method, endpoint) in route.methods {
            let op = operations::operation(endpoint, &wire);
            if method == Method::Get {
                item.insert("head".into(), head_of(&op));
            }
            item.insert(method.as_str().to_ascii_lowercase(), op);
        }
        if route.path.contains("{id}") {
            item.insert("parameters".into(), json!([id_parameter(route.path)]));
        }
        paths.insert(route.path.to_owned(), Value::Object(item));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "assimetria-auth",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Email and password accounts, 24 h JWT access tokens, single-use rotating refresh tokens, an httpOnly cookie for browsers, organization API keys and roles. Every reply is JSON; every refusal is `{\"success\": false, \"error\", \"message\"}`. A known path with another method answers 405 with `Allow`; an unknown path 404.",
        },
        "paths": paths,
        "components": {
            "schemas": components::schemas(&wire),
            "responses": components::responses(),
            "securitySchemes": components::security_schemes(&wire),
        },
    })
}

/// The `{id}` path parameter: a session's id is a string, the others are integers (an id that
/// is not one names nothing: 404).
fn id_parameter(path: &str) -> Value {
    let schema = if path.starts_with("/api/auth/sessions/") {
        json!({ "type": "string" })
    } else {
        json!({ "type": "integer", "format": "int64" })
    };
    json!({ "name": "id", "in": "path", "required": true, "schema": schema })
}

/// The `HEAD` twin of a `GET` operation of this document (or of a host's, built the same way):
/// the same statuses and headers, no bodies (RFC 9110 §9.3.2); its `operationId` is the `GET`'s
/// with `Head` appended.
pub fn head_of(get: &Value) -> Value {
    let mut head = get.clone();
    if let Some(id) = head["operationId"].as_str() {
        head["operationId"] = Value::from(format!("{id}Head"));
    }
    let summary = format!("{} (headers only)", head["summary"].as_str().unwrap_or(""));
    head["summary"] = Value::from(summary);
    let errors = components::responses();
    if let Some(responses) = head["responses"].as_object_mut() {
        for (status, response) in responses.iter_mut() {
            // An error reply is a `$ref` to one with a body: keep its headers only.
            let name = response.get("$ref").and_then(Value::as_str);
            let name = name.and_then(|r| r.rsplit('/').next()).map(str::to_owned);
            if let Some(name) = name {
                *response = json!({ "description": format!("{status}, without its body.") });
                if let Some(headers) = errors[name.as_str()].get("headers") {
                    response["headers"] = headers.clone();
                }
            }
            if let Some(r) = response.as_object_mut() {
                r.remove("content");
            }
        }
    }
    head
}

/// A reference to the document's error reply for `status` (one of 400, 401, 403, 404, 409, 413,
/// 422, 429, 503), for a host's own operations.
///
/// # Panics
///
/// For a status the document has no error reply for.
pub fn error_response(status: u16) -> Value {
    json!({ "$ref": format!("#/components/responses/{}", components::error_name(status)) })
}

/// The `security` of an operation that needs a credential: an access token or the cookie, and,
/// when `api_keys`, an API key too.
pub fn security(api_keys: bool) -> Value {
    let mut any = vec![json!({ "bearerAuth": [] })];
    if api_keys {
        any.push(json!({ "apiKeyAuth": [] }));
    }
    any.push(json!({ "cookieAuth": [] }));
    Value::Array(any)
}

/// The endpoint's path and method in [`ROUTES`].
#[cfg(test)]
fn located(endpoint: Endpoint) -> (&'static str, Method) {
    ROUTES
        .iter()
        .find_map(|r| {
            r.methods
                .iter()
                .find(|(_, e)| *e == endpoint)
                .map(|&(m, _)| (r.path, m))
        })
        .expect("every endpoint is in the table")
}

#[cfg(test)]
mod tests;
