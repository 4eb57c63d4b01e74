//! The demo resources the servers guard with the permission matrix: three lists
//! (`/api/tasks`, `/api/agents`, `/api/products`) and one settings object (`/api/settings`),
//! all in memory. What a test API key creates is kept apart from live data.
//!
//! Framework-free: each server's handlers call these and wrap the result in their framework's
//! response types.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use assimetria_auth::Environment;
use assimetria_auth::http::HttpError;
use serde_json::{Value, json};

/// How many items each list keeps (per resource and environment): the newest ones. Any member
/// may post, so an unbounded list would be unbounded memory.
pub const MAX_ITEMS: usize = 1_000;

/// One of the demo lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `/api/tasks`.
    Tasks,
    /// `/api/agents`.
    Agents,
    /// `/api/products`.
    Products,
}

/// The demo data: the lists, per resource and per environment (test keys never see live data),
/// and the settings object.
#[derive(Debug, Default)]
pub struct DemoData {
    lists: Mutex<HashMap<(Resource, Environment), List>>,
    settings: Mutex<Value>,
}

/// One list: its newest items and the next id to hand out.
#[derive(Debug, Default)]
struct List {
    newest: VecDeque<Value>,
    next_id: u64,
}

/// Why a demo route refuses a request body. Both kinds answer in the seed's error shape
/// ([`body`](Self::body)), like the crate's own routes.
#[derive(Debug)]
pub enum DemoError {
    /// The crate's own refusal of a body: `400` for one that is not JSON, `413` for one past the
    /// body limit.
    Body(HttpError),
    /// Well-formed JSON the route does not take: `422 validation_error` with this message.
    Invalid(&'static str),
}

impl DemoError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            DemoError::Body(e) => e.status(),
            DemoError::Invalid(_) => 422,
        }
    }

    /// The body: `{"success": false, "error": "<code>", "message": "<text>"}`.
    pub fn body(&self) -> Value {
        let code = match self {
            DemoError::Body(e) => e.code(),
            DemoError::Invalid(_) => "validation_error",
        };
        json!({"success": false, "error": code, "message": self.to_string()})
    }
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Body(e) => e.fmt(f),
            DemoError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for DemoError {}

/// A poisoned lock still holds consistent demo data: every change is one assignment.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl DemoData {
    /// The items of `resource` in `env`, oldest first.
    pub fn list(&self, resource: Resource, env: Environment) -> Vec<Value> {
        let lists = lock(&self.lists);
        let list = lists.get(&(resource, env));
        list.map(|l| l.newest.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds an item to `resource` in `env`: `body` must be a JSON object, kept as the item's
    /// `fields`. Returns the item: `{"id", "fields", "environment", "created_by"}`. The oldest
    /// item goes once the list holds [`MAX_ITEMS`].
    pub fn add(
        &self,
        resource: Resource,
        env: Environment,
        created_by: &str,
        body: &[u8],
    ) -> Result<Value, DemoError> {
        let fields = match serde_json::from_slice(body) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(DemoError::Invalid("the body must be a JSON object")),
            Err(_) => return Err(DemoError::Body(HttpError::InvalidJson)),
        };
        let mut lists = lock(&self.lists);
        let list = lists.entry((resource, env)).or_default();
        list.next_id += 1;
        let item = json!({
            "id": list.next_id,
            "fields": fields,
            "environment": env,
            "created_by": created_by,
        });
        if list.newest.len() == MAX_ITEMS {
            list.newest.pop_front();
        }
        list.newest.push_back(item.clone());
        Ok(item)
    }

    /// The settings object (`null` until first set).
    pub fn settings(&self) -> Value {
        lock(&self.settings).clone()
    }

    /// Replaces the settings with `body`, which must be a JSON object; returns the new settings.
    pub fn put_settings(&self, body: &[u8]) -> Result<Value, DemoError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(settings @ Value::Object(_)) => {
                *lock(&self.settings) = settings.clone();
                Ok(settings)
            }
            _ => Err(DemoError::Invalid("settings must be a JSON object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_lists_keep_only_their_newest_items() {
        let data = DemoData::default();
        let body = br#"{"title": "t"}"#;
        for _ in 0..MAX_ITEMS + 5 {
            data.add(Resource::Tasks, Environment::Live, "1", body)
                .unwrap();
        }
        let sandbox = data.add(Resource::Tasks, Environment::Test, "2", body);
        assert_eq!(
            sandbox.unwrap()["id"],
            1,
            "each environment counts its own ids"
        );
        let tasks = data.list(Resource::Tasks, Environment::Live);
        assert_eq!(tasks.len(), MAX_ITEMS);
        assert_eq!(tasks[0]["id"], 6, "the oldest five were dropped");
        assert_eq!(tasks[MAX_ITEMS - 1]["id"], (MAX_ITEMS + 5) as u64);
        assert_eq!(data.list(Resource::Tasks, Environment::Test).len(), 1);
        assert!(data.list(Resource::Agents, Environment::Live).is_empty());
    }

    #[test]
    fn bodies_are_refused_in_the_seed_shape() {
        let data = DemoData::default();
        let not_json = data.add(Resource::Agents, Environment::Live, "1", b"{\"name\": ");
        let not_json = not_json.unwrap_err();
        assert_eq!(not_json.status(), 400);
        assert_eq!(
            not_json.body(),
            json!({"success": false, "error": "bad_request",
                   "message": "malformed request: the body is not valid JSON"})
        );
        let array = data.add(Resource::Agents, Environment::Live, "1", b"[1]");
        assert_eq!(array.unwrap_err().status(), 422);
        let settings = data.put_settings(b"[]").unwrap_err();
        assert_eq!(
            settings.body(),
            json!({"success": false, "error": "validation_error",
                   "message": "settings must be a JSON object"})
        );
        assert_eq!(data.settings(), Value::Null);
        data.put_settings(br#"{"theme": "dark"}"#).unwrap();
        assert_eq!(data.settings(), json!({"theme": "dark"}));
        assert_eq!(DemoError::Body(HttpError::PayloadTooLarge).status(), 413);
    }
}
