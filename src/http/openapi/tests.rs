use std::time::Duration;

use serde_json::Value;

use super::components::ERRORS;
use super::*;
use crate::error::{ConfigError, Error, InternalError, InternalKind, TokenError, ValidationError};
use crate::http::HttpError;
use crate::rbac::seed;

async fn doc() -> Value {
    document(&crate::http::test_api().await)
}

async fn doc_with(config: crate::AuthConfig) -> Value {
    let store = std::sync::Arc::new(crate::store::memory::MemoryStore::new());
    let service = crate::AuthService::builder(config, store)
        .background_revocation_sync(false)
        .build()
        .await
        .unwrap();
    document(&HttpApi::new(service))
}

/// Every `$ref` in `v`, with where it was found.
fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if k == "$ref" {
                    out.push((at.clone(), child.as_str().expect("a $ref is a string")));
                } else {
                    refs(child, format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                refs(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Resolves a local JSON pointer (`#/components/…`).
fn resolve<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    doc.pointer(pointer.strip_prefix('#')?)
}

#[tokio::test]
async fn every_route_and_method_of_the_table_is_documented_with_its_credentials() {
    let doc = doc().await;
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), ROUTES.len(), "no path beyond the table");
    let mut operations = 0;
    for route in ROUTES {
        let item = &paths[route.path];
        for &(method, endpoint) in route.methods {
            let mut methods = vec![method.as_str().to_ascii_lowercase()];
            if method == Method::Get {
                methods.push("head".into());
            }
            for m in methods {
                let op = &item[&m];
                assert!(op.is_object(), "{m} {} is missing", route.path);
                operations += 1;
                let security = op["security"].as_array().unwrap();
                let anonymous = security.iter().any(|s| s.as_object().unwrap().is_empty());
                assert_eq!(
                    !anonymous,
                    endpoint.authenticated(),
                    "{m} {}: security {security:?}",
                    route.path
                );
                let responses = op["responses"].as_object().unwrap();
                if endpoint.authenticated() {
                    assert!(security.iter().any(|s| s.get("bearerAuth").is_some()));
                    assert!(security.iter().any(|s| s.get("cookieAuth").is_some()));
                    assert!(responses.contains_key("401"), "{m} {}", route.path);
                    assert!(responses.contains_key("403"), "{m} {}", route.path);
                }
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{m} {}: a success reply",
                    route.path
                );
                if op.get("requestBody").is_some() {
                    for status in ["400", "413", "422"] {
                        assert!(responses.contains_key(status), "{m} {}", route.path);
                    }
                }
            }
            // Only the methods of the table, and HEAD beside GET.
            let documented = item.as_object().unwrap().keys();
            let expected: Vec<String> = route
                .methods
                .iter()
                .flat_map(|(m, _)| {
                    let lower = m.as_str().to_ascii_lowercase();
                    if *m == Method::Get {
                        vec![lower, "head".into()]
                    } else {
                        vec![lower]
                    }
                })
                .collect();
            for key in documented.filter(|k| *k != "parameters") {
                assert!(expected.contains(key), "{key} {} is not routed", route.path);
            }
        }
    }
    assert_eq!(
        operations,
        19 + 5,
        "19 endpoints and HEAD beside the 5 GETs"
    );
    // API keys reach the organization's resources, not a user's own account.
    let me = &paths["/api/auth/me"]["get"]["security"];
    assert!(
        me.as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("apiKeyAuth").is_some())
    );
    let logout = &paths["/api/auth/logout"]["post"]["security"];
    assert!(
        !logout
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("apiKeyAuth").is_some())
    );
    let (path, method) = located(Endpoint::Logout);
    let scope = &paths[path][method.as_str().to_ascii_lowercase()]["parameters"][0];
    assert_eq!(scope["name"], "scope");
    assert_eq!(scope["in"], "query");
    assert_eq!(
        scope["schema"]["enum"],
        serde_json::json!(["local", "others", "global"])
    );
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_ref_resolves() {
    let doc = doc().await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["apiKeyAuth"]["scheme"], "bearer");
    assert_eq!(schemes["cookieAuth"]["in"], "cookie");
    assert_eq!(schemes["cookieAuth"]["name"], "assimetria_jwt");
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(found.len() > 50, "the operations share components");
    for (at, r) in &found {
        assert!(resolve(&doc, r).is_some(), "{at}: {r} does not resolve");
    }
    // Every security requirement names a scheme; every operation id is unique.
    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            ids.push(op["operationId"].as_str().unwrap().to_owned());
            for requirement in op["security"].as_array().unwrap() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
                }
            }
            for (status, _) in op["responses"].as_object().unwrap() {
                let code: u16 = status.parse().unwrap();
                assert!((200..600).contains(&code), "{method} {path}: {status}");
            }
        }
        if path.contains("{id}") {
            assert_eq!(item["parameters"][0]["in"], "path");
            assert_eq!(item["parameters"][0]["required"], true);
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids are unique");
}

/// One of each error the endpoints can answer with, and the status and code it puts on the wire.
fn every_refusal() -> Vec<(u16, &'static str)> {
    let core = [
        Error::MissingCredentials,
        Error::InvalidCredentials,
        Error::InvalidToken(TokenError::Expired),
        Error::InvalidRefreshToken,
        Error::RefreshTokenReused,
        Error::InvalidApiKey,
        Error::InvalidResetToken,
        Error::InvalidVerificationToken,
        Error::CurrentPasswordWrong,
        Error::EmailNotVerified,
        Error::Forbidden(seed::TasksWrite.into()),
        Error::CrossOrigin,
        Error::EmailTaken,
        Error::Validation(ValidationError::InvalidEmail),
        Error::Validation(ValidationError::InvalidPasswordHash),
        Error::NotFound,
        Error::RateLimited {
            retry_after: Duration::from_secs(3),
        },
        Error::Overloaded,
        Error::Config(ConfigError::Leeway),
        Error::Internal(InternalError::new(InternalKind::Crypto)),
    ];
    // No wildcard: a new variant is listed above or this does not compile.
    for e in &core {
        match e {
            Error::MissingCredentials
            | Error::InvalidCredentials
            | Error::InvalidToken(_)
            | Error::InvalidRefreshToken
            | Error::RefreshTokenReused
            | Error::InvalidApiKey
            | Error::InvalidResetToken
            | Error::InvalidVerificationToken
            | Error::CurrentPasswordWrong
            | Error::EmailNotVerified
            | Error::Forbidden(_)
            | Error::CrossOrigin
            | Error::EmailTaken
            | Error::Validation(_)
            | Error::NotFound
            | Error::RateLimited { .. }
            | Error::Overloaded
            | Error::Config(_)
            | Error::Internal(_)
            | Error::Store(_) => {}
        }
    }
    let http = [
        HttpError::PayloadTooLarge,
        HttpError::UnreadableBody,
        HttpError::NotJson,
        HttpError::InvalidJson,
        HttpError::WrongFields,
    ];
    let mut out: Vec<_> = core.iter().map(|e| (e.status(), e.code())).collect();
    out.extend(http.iter().map(|e| (e.status(), e.code())));
    out
}

#[tokio::test]
async fn every_refusal_status_and_code_is_documented() {
    let doc = doc().await;
    let responses = &doc["components"]["responses"];
    for (status, code) in every_refusal() {
        if status == 500 {
            // A server failure is never part of the contract (CI fails on any 5xx but 503).
            continue;
        }
        let (name, _, codes) = ERRORS.iter().find(|(_, s, _)| *s == status).unwrap();
        assert!(codes.contains(&code), "{status} {code} is not documented");
        let schema = &responses[name]["content"]["application/json"]["schema"];
        let listed = &schema["allOf"][1]["properties"]["error"]["enum"];
        assert!(listed.as_array().unwrap().contains(&Value::from(code)));
    }
    assert_eq!(
        responses["Unauthorized"]["headers"]["WWW-Authenticate"]["required"],
        true
    );
    assert_eq!(
        responses["TooManyRequests"]["headers"]["Retry-After"]["required"],
        true
    );
    // 405 is answered by routing, for the methods no operation has.
    assert!(ERRORS.iter().all(|(_, s, _)| *s != 405));
}

#[tokio::test]
async fn the_document_follows_the_configuration_that_changes_the_wire() {
    let default = doc().await;
    let schemas = &default["components"]["schemas"];
    let required = |d: &Value, name: &str| d["components"]["schemas"][name]["required"].clone();
    assert!(
        required(&default, "SignedIn")
            .as_array()
            .unwrap()
            .contains(&"refresh_token".into())
    );
    assert_eq!(
        required(&default, "RefreshRequest"),
        serde_json::json!(["refresh_token"])
    );
    assert_eq!(
        schemas["Role"]["enum"],
        serde_json::json!(["admin", "member", "viewer"])
    );
    assert_eq!(
        schemas["CreatedApiKey"]["properties"]["key"]["pattern"],
        "^osk_(live|test)_"
    );
    let register = &default["paths"]["/api/auth/register"]["post"]["responses"]["201"];
    assert!(register["headers"]["Set-Cookie"].is_object());

    let mut config = crate::AuthConfig::builder()
        .rate_limiting(false)
        .refresh_cookie(true)
        .require_verified_email(true)
        .api_key_prefix("acme")
        .build()
        .unwrap();
    config.cookie.name = "sid".into();
    let custom = doc_with(config).await;
    let c = &custom["components"];
    assert_eq!(c["securitySchemes"]["cookieAuth"]["name"], "sid");
    assert!(
        !required(&custom, "SignedIn")
            .as_array()
            .unwrap()
            .contains(&"refresh_token".into())
    );
    assert_eq!(required(&custom, "RefreshRequest"), serde_json::json!([]));
    let refresh = &custom["paths"]["/api/auth/refresh"]["post"];
    assert_eq!(refresh["requestBody"]["required"], false);
    assert_eq!(refresh["parameters"][0]["name"], REFRESH_COOKIE);
    assert!(
        refresh["responses"]["403"].is_object(),
        "the refresh cookie's CSRF rule"
    );
    assert_eq!(
        c["schemas"]["CreatedApiKey"]["properties"]["key"]["pattern"],
        "^acme_(live|test)_"
    );
    let register = &custom["paths"]["/api/auth/register"]["post"]["responses"]["201"];
    assert_eq!(
        register["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/UserReply"
    );
    assert!(register.get("headers").is_none(), "nobody is signed in");
    let login = &custom["paths"]["/api/auth/login"]["post"]["responses"];
    assert!(login["403"].is_object(), "email_not_verified");
}

#[tokio::test]
async fn head_operations_have_no_bodies_but_keep_their_headers() {
    let doc = doc().await;
    let head = &doc["paths"]["/api/auth/me"]["head"];
    assert_eq!(head["operationId"], "meHead");
    for (status, r) in head["responses"].as_object().unwrap() {
        assert!(
            r.get("content").is_none() && r.get("$ref").is_none(),
            "{status}"
        );
    }
    assert!(head["responses"]["401"]["headers"]["WWW-Authenticate"].is_object());
}

#[test]
fn host_helpers_point_into_the_document() {
    assert_eq!(
        error_response(401),
        serde_json::json!({ "$ref": "#/components/responses/Unauthorized" })
    );
    assert_eq!(security(true).as_array().unwrap().len(), 3);
    assert_eq!(security(false).as_array().unwrap().len(), 2);
}
