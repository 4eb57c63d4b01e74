//! The servers' OpenAPI document, served at `GET /openapi.json`: the crate's document of the
//! seed's routes ([`assimetria_auth::http::openapi::document`]) and this server's own routes,
//! the demo resources and `/health`, written against the crate document's components.

use assimetria_auth::http::HttpApi;
use assimetria_auth::http::openapi::{self, error_response, head_of, security};
use serde_json::{Map, Value, json};

use crate::demo::MAX_ITEMS;

/// The demo lists: path, the reply's list field, the permission each method needs.
const LISTS: [(&str, &str, &str, &str); 3] = [
    ("/api/tasks", "tasks", "tasks:read", "tasks:write"),
    ("/api/agents", "agents", "agents:read", "agents:write"),
    (
        "/api/products",
        "products",
        "products:read",
        "products:write",
    ),
];

/// The document both servers serve: every route they answer.
pub fn document(api: &HttpApi) -> Value {
    let mut doc = openapi::document(api);
    doc["info"]["title"] = Value::from("assimetria-auth example server");
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("the crate's document has schemas");
    schemas.insert("Item".into(), item_schema());
    let paths = doc["paths"]
        .as_object_mut()
        .expect("the crate's document has paths");
    for (path, field, read, write) in LISTS {
        let name = &path["/api/".len()..];
        let list = json!({
            "type": "object",
            "properties": {
                "success": { "const": true },
                field: { "type": "array", "items": { "$ref": "#/components/schemas/Item" } },
            },
            "required": ["success", field],
            "additionalProperties": false,
        });
        let get = guarded(
            &format!("list_{name}"),
            &format!(
                "The {name} the caller's environment holds (live or test), oldest first; at most {MAX_ITEMS}"
            ),
            read,
            (200, list),
            &[],
        );
        let mut post = guarded(
            &format!("create_{name}"),
            &format!("Add one of the {name}: any JSON object, kept as its `fields`"),
            write,
            (201, created()),
            &[400, 413, 422],
        );
        post["requestBody"] = json_body(json!({ "type": "object" }));
        paths.insert(path.into(), with_head(get, "post", post));
    }
    let settings = json!({
        "type": "object",
        "properties": {
            "success": { "const": true },
            "settings": { "type": ["object", "null"] },
        },
        "required": ["success", "settings"],
        "additionalProperties": false,
    });
    let get = guarded(
        "get_settings",
        "The settings object (null until first set)",
        "settings:manage",
        (200, settings.clone()),
        &[],
    );
    let mut put = guarded(
        "put_settings",
        "Replace the settings with a JSON object",
        "settings:manage",
        (200, settings),
        &[400, 413, 422],
    );
    put["requestBody"] = json_body(json!({ "type": "object" }));
    paths.insert("/api/settings".into(), with_head(get, "put", put));
    let health = json!({
        "operationId": "health",
        "summary": "Liveness",
        "tags": ["server"],
        "security": [{}],
        "responses": { "200": json_reply("Up", json!({
            "type": "object",
            "properties": { "success": { "const": true }, "status": { "const": "ok" } },
            "required": ["success", "status"],
            "additionalProperties": false,
        })) },
    });
    let mut item = Map::new();
    item.insert("head".into(), head_of(&health));
    item.insert("get".into(), health);
    paths.insert("/health".into(), Value::Object(item));
    let spec = json!({
        "operationId": "openapi",
        "summary": "This document",
        "tags": ["server"],
        "security": [{}],
        "responses": { "200": json_reply("The OpenAPI 3.1 document", json!({ "type": "object" })) },
    });
    let mut item = Map::new();
    item.insert("head".into(), head_of(&spec));
    item.insert("get".into(), spec);
    paths.insert("/openapi.json".into(), Value::Object(item));
    doc
}

/// One demo item: `{"id", "fields", "environment", "created_by"}`.
fn item_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "integer", "minimum": 1 },
            "fields": { "type": "object" },
            "environment": { "$ref": "#/components/schemas/Environment" },
            "created_by": { "type": "string", "description": "The caller's subject." },
        },
        "required": ["id", "fields", "environment", "created_by"],
        "additionalProperties": false,
    })
}

fn created() -> Value {
    json!({
        "type": "object",
        "properties": {
            "success": { "const": true },
            "item": { "$ref": "#/components/schemas/Item" },
        },
        "required": ["success", "item"],
        "additionalProperties": false,
    })
}

fn json_reply(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// An operation that needs `permission` (any credential: API keys too): 401 without one, 403
/// without the permission or for a cross-origin cookie write.
fn guarded(
    id: &str,
    summary: &str,
    permission: &str,
    (status, schema): (u16, Value),
    errors: &[u16],
) -> Value {
    let mut responses = Map::new();
    responses.insert(status.to_string(), json_reply(summary, schema));
    let mut statuses = vec![401, 403];
    statuses.extend_from_slice(errors);
    statuses.sort_unstable();
    for s in statuses {
        responses.insert(s.to_string(), error_response(s));
    }
    json!({
        "operationId": id,
        "summary": summary,
        "description": format!("Needs `{permission}`."),
        "tags": ["demo"],
        "security": security(true),
        "responses": responses,
    })
}

/// A path item with `get`, its `HEAD` twin, and `other` under `method`.
fn with_head(get: Value, method: &str, other: Value) -> Value {
    let mut item = Map::new();
    item.insert("head".into(), head_of(&get));
    item.insert("get".into(), get);
    item.insert(method.into(), other);
    Value::Object(item)
}
