//! The example server: the seed's HTTP API on an embedded SQLite file (or PostgreSQL), plus small
//! demo resources that show the permission matrix at work.
//!
//! ```text
//! cargo run --example server --features axum
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ASSIMETRIA_AUTH_ADDR` | `127.0.0.1:8080` | listen address |
//! | `ASSIMETRIA_AUTH_DATABASE_URL` | `sqlite://assimetria-auth.db?mode=rwc` | `sqlite://…` or `postgres://…` |
//! | `ASSIMETRIA_AUTH_ADMIN_EMAIL`, `ASSIMETRIA_AUTH_ADMIN_PASSWORD` | unset | create this admin at start if absent |
//! | `ASSIMETRIA_AUTH_OUTBOX` | unset: print to stdout | file the development mailer appends JSON lines to |
//! | `ASSIMETRIA_AUTH_PUBLIC_URL` | `http://<addr>` | base of the reset link in mails |
//! | `ASSIMETRIA_AUTH_REFRESH_GRACE_SECS` | `10` | refresh grace window (0 disables) |
//! | `ASSIMETRIA_AUTH_RATE_LIMIT` | `on` | `off` disables the login / forgot-password limiter |
//! | `ASSIMETRIA_AUTH_COOKIE_SECURE` | `true` | `false` drops the cookie's `Secure` attribute (plain-HTTP development on a non-localhost host) |
//! | `ASSIMETRIA_AUTH_ALLOWED_ORIGINS` | unset | comma-separated origins allowed to send cookie-authenticated writes |
//! | `ASSIMETRIA_AUTH_MASTER_KEY` | unset | comma-separated base64 master keys (32 bytes each; the first seals, all open). Unset on SQLite: a key file beside the database (`<db>.master-key`, mode 0600) is created once and read at every start; unset on PostgreSQL: the server refuses to start |
//! | `ASSIMETRIA_AUTH_TRUSTED_PROXIES` | unset: forwarding headers ignored | comma-separated networks of your reverse proxies (`10.0.0.0/8, 2001:db8::/32`; a bare address is a `/32` or `/128`); only their connections have the forwarding header read for the client address the rate limits count |
//! | `ASSIMETRIA_AUTH_FORWARDED_HEADER` | `x-forwarded-for` | `x-forwarded-for` or `forwarded` (RFC 7239): the one header your proxies set (the other passes through them as the client wrote it) |
//! | `RUST_LOG` | `info` | log filter |
//!
//! Demo resources: `/api/tasks`, `/api/agents`, `/api/products` (GET needs read, POST needs
//! write; what a test key creates is kept apart from live data; each keeps its newest
//! 1,000 items per environment), `/api/settings` (admin), and `GET /health`.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assimetria_auth::Password;
use assimetria_auth::Principal;
use assimetria_auth::api_key::Environment;
use assimetria_auth::axum::{LimitedBody, Require};
use assimetria_auth::http::{HttpApi, HttpError, Reply};
use assimetria_auth::mail::{Mail, Mailer};
use assimetria_auth::rbac::seed;
use assimetria_auth::store::sql::SqlStore;
use assimetria_auth::{AuthConfig, AuthService, Error, MasterKey};
use async_trait::async_trait;
use axum::Router;
use axum::extract::{FromRef, State};
use axum::routing::get;
use serde_json::{Value, json};

/// The development mailer: one JSON line per message, to a file or to stdout.
#[derive(Debug)]
struct OutboxMailer {
    path: Option<std::path::PathBuf>,
    public_url: String,
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: Mail) -> Result<(), Error> {
        let token = mail.token.expose();
        let line = json!({
            "to": mail.to,
            "kind": mail.kind.as_str(),
            "token": token,
            "link": format!("{}/reset-password?token={token}", self.public_url),
        })
        .to_string();
        match &self.path {
            // File I/O on the blocking pool, never on an executor thread.
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?;
                    // One write per line: appends of whole lines do not interleave.
                    file.write_all(format!("{line}\n").as_bytes())
                })
                .await
                .map_err(Error::mail)?
                .map_err(Error::mail)?;
            }
            None => println!("outbox: {line}"),
        }
        Ok(())
    }
}

/// How many items each demo list keeps (per resource and environment): the newest ones. Any
/// member may post, so an unbounded list would be unbounded memory.
const MAX_ITEMS: usize = 1_000;

/// Demo data, kept per resource and per environment (test keys never see live data).
#[derive(Debug, Default)]
struct DemoData {
    items: Mutex<HashMap<(&'static str, Environment), Items>>,
    settings: Mutex<Value>,
}

/// One list: its newest items and the next id to hand out.
#[derive(Debug, Default)]
struct Items {
    newest: VecDeque<Value>,
    next_id: u64,
}

#[derive(Clone)]
struct AppState {
    api: HttpApi,
    data: Arc<DemoData>,
}

impl FromRef<AppState> for HttpApi {
    fn from_ref(state: &AppState) -> HttpApi {
        state.api.clone()
    }
}

fn list(data: &DemoData, resource: &'static str, env: Environment) -> Reply {
    let items = data.items.lock().unwrap_or_else(|e| e.into_inner());
    let list: Vec<&Value> = items
        .get(&(resource, env))
        .map(|l| l.newest.iter().collect())
        .unwrap_or_default();
    Reply::json(200, &json!({"success": true, resource: list}))
}

fn create(data: &DemoData, resource: &'static str, p: &Principal, body: &LimitedBody) -> Reply {
    add_item(data, resource, p.environment(), &p.subject, body)
}

fn add_item(
    data: &DemoData,
    resource: &'static str,
    env: Environment,
    created_by: &str,
    body: &LimitedBody,
) -> Reply {
    let fields: Value = match serde_json::from_slice(&body.bytes) {
        Ok(Value::Object(o)) => Value::Object(o),
        Ok(_) => return Reply::invalid("the body must be a JSON object"),
        Err(_) => return Reply::from(HttpError::InvalidJson),
    };
    let mut items = data.items.lock().unwrap_or_else(|e| e.into_inner());
    let list = items.entry((resource, env)).or_default();
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
    Reply::json(201, &json!({"success": true, "item": item}))
}

macro_rules! resource {
    ($list:ident, $create:ident, $name:literal, $read:ident, $write:ident) => {
        async fn $list(State(s): State<AppState>, Require(p, ..): Require<seed::$read>) -> Reply {
            list(&s.data, $name, p.environment())
        }
        async fn $create(
            State(s): State<AppState>,
            Require(p, ..): Require<seed::$write>,
            body: LimitedBody,
        ) -> Reply {
            create(&s.data, $name, &p, &body)
        }
    };
}

resource!(list_tasks, create_task, "tasks", TasksRead, TasksWrite);
resource!(list_agents, create_agent, "agents", AgentsRead, AgentsWrite);
resource!(
    list_products,
    create_product,
    "products",
    ProductsRead,
    ProductsWrite
);

async fn get_settings(State(s): State<AppState>, _: Require<seed::SettingsManage>) -> Reply {
    let settings = s
        .data
        .settings
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Reply::json(200, &json!({"success": true, "settings": settings}))
}

async fn put_settings(
    State(s): State<AppState>,
    _: Require<seed::SettingsManage>,
    body: LimitedBody,
) -> Reply {
    match serde_json::from_slice::<Value>(&body.bytes) {
        Ok(v @ Value::Object(_)) => {
            *s.data.settings.lock().unwrap_or_else(|e| e.into_inner()) = v.clone();
            Reply::json(200, &json!({"success": true, "settings": v}))
        }
        _ => Reply::invalid("settings must be a JSON object"),
    }
}

async fn health() -> Reply {
    Reply::json(200, &json!({"success": true, "status": "ok"}))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_flag(name: &str, default: bool) -> Result<bool, Box<dyn std::error::Error>> {
    match env(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "on" | "yes") => Ok(true),
        Some("0" | "false" | "off" | "no") => Ok(false),
        Some(other) => Err(format!("{name}: expected on/off, got {other:?}").into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let addr: SocketAddr = env("ASSIMETRIA_AUTH_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(|e| format!("ASSIMETRIA_AUTH_ADDR: {e}"))?;
    let database_url = env("ASSIMETRIA_AUTH_DATABASE_URL")
        .unwrap_or_else(|| "sqlite://assimetria-auth.db?mode=rwc".into());
    let grace = match env("ASSIMETRIA_AUTH_REFRESH_GRACE_SECS") {
        Some(v) => Duration::from_secs(
            v.parse()
                .map_err(|e| format!("ASSIMETRIA_AUTH_REFRESH_GRACE_SECS: {e}"))?,
        ),
        None => Duration::from_secs(10),
    };
    let allowed_origins = env("ASSIMETRIA_AUTH_ALLOWED_ORIGINS")
        .map(|v| {
            v.split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let trusted_proxies = env("ASSIMETRIA_AUTH_TRUSTED_PROXIES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|net| !net.is_empty())
        .map(|net| {
            use assimetria_auth::config::IpNet;
            match net
                .parse::<IpNet>()
                .or_else(|_| net.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(parsed) if parsed.prefix_len() > 0 => Ok(parsed),
                Ok(_) => Err(format!(
                    "ASSIMETRIA_AUTH_TRUSTED_PROXIES: {net:?} would trust every address; \
                     list your proxies' own networks"
                )),
                Err(_) => Err(format!(
                    "ASSIMETRIA_AUTH_TRUSTED_PROXIES: {net:?} is neither a network \
                     (10.0.0.0/8, 2001:db8::/32) nor an address"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let forwarded_header = match env("ASSIMETRIA_AUTH_FORWARDED_HEADER")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("x-forwarded-for") => assimetria_auth::config::ForwardedHeader::XForwardedFor,
        Some("forwarded") => assimetria_auth::config::ForwardedHeader::Forwarded,
        Some(other) => {
            return Err(format!(
                "ASSIMETRIA_AUTH_FORWARDED_HEADER: expected x-forwarded-for or forwarded, got {other:?}"
            )
            .into());
        }
    };
    let config = AuthConfig::builder()
        .refresh_grace(grace)
        .rate_limiting(env_flag("ASSIMETRIA_AUTH_RATE_LIMIT", true)?)
        .cookie_secure(env_flag("ASSIMETRIA_AUTH_COOKIE_SECURE", true)?)
        .allowed_origins(allowed_origins)
        .master_keys(master_keys(&database_url)?)
        .trusted_proxies(trusted_proxies)
        .forwarded_header(forwarded_header)
        .build()?;

    let store = SqlStore::connect(&database_url).await?;
    let public_url = env("ASSIMETRIA_AUTH_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}"));
    let mailer = OutboxMailer {
        path: env("ASSIMETRIA_AUTH_OUTBOX").map(Into::into),
        public_url,
    };
    let service = AuthService::builder(config, Arc::new(store))
        .mailer(Arc::new(mailer))
        .build()
        .await?;

    if let (Some(email), Some(password)) = (
        env("ASSIMETRIA_AUTH_ADMIN_EMAIL"),
        env("ASSIMETRIA_AUTH_ADMIN_PASSWORD"),
    ) {
        match service
            .create_user(&email, &Password::new(password), seed::ADMIN)
            .await
        {
            Ok(user) => tracing::info!(user_id = user.id, "created the admin account"),
            Err(Error::EmailTaken) => tracing::info!("the admin account exists"),
            Err(e) => return Err(e.into()),
        }
    }

    let api = HttpApi::new(service);
    let state = AppState {
        api: api.clone(),
        data: Arc::new(DemoData::default()),
    };
    let app: Router = assimetria_auth::axum::routes()
        .route("/api/tasks", get(list_tasks).post(create_task))
        .route("/api/agents", get(list_agents).post(create_agent))
        .route("/api/products", get(list_products).post(create_product))
        .route("/api/settings", get(get_settings).put(put_settings))
        .route("/health", get(health))
        .with_state(state)
        .layer(assimetria_auth::axum::AuthLayer::new(api.clone()));
    let app = match assimetria_auth::axum::cors(&api) {
        Some(cors) => app.layer(cors),
        None => app,
    };

    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, database = %redact_url(&database_url), "assimetria-auth example server listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await?;
    Ok(())
}

/// The master keys: from `ASSIMETRIA_AUTH_MASTER_KEY`, else (SQLite only) from a key file beside
/// the database, created on first start. PostgreSQL without a configured key is refused: a key
/// file on one machine cannot serve a fleet, and a database whose keys sit beside it in plain
/// form would be no safer than before sealing.
fn master_keys(database_url: &str) -> Result<Vec<MasterKey>, Box<dyn std::error::Error>> {
    if let Some(text) = env("ASSIMETRIA_AUTH_MASTER_KEY") {
        return text
            .split(',')
            .map(|k| {
                MasterKey::from_base64(k)
                    .map_err(|e| format!("ASSIMETRIA_AUTH_MASTER_KEY: {e}").into())
            })
            .collect();
    }
    if !database_url.starts_with("sqlite:") {
        return Err(
            "ASSIMETRIA_AUTH_MASTER_KEY is required with a PostgreSQL database: the \
                    signing keys stored there are sealed under it (generate one with \
                    `openssl rand -base64 32`, give every instance the same value)"
                .into(),
        );
    }
    if database_url.contains(":memory:") || database_url.contains("mode=memory") {
        // An in-memory database dies with the process; so may its key.
        return Ok(Vec::new());
    }
    let options = SqlStore::sqlite_connect_options(database_url)?;
    let db_path = options.get_filename();
    let mut key_path = db_path.as_os_str().to_owned();
    key_path.push(".master-key");
    Ok(vec![key_file(std::path::Path::new(&key_path))?])
}

/// Reads the master key file, or creates it (mode 0600) if it does not exist. Creation is
/// atomic (written aside, then hard-linked into place), so two servers starting at once on a new
/// database end up with one key.
fn key_file(path: &std::path::Path) -> Result<MasterKey, Box<dyn std::error::Error>> {
    let read = |path: &std::path::Path| -> Result<MasterKey, Box<dyn std::error::Error>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the master key file {}: {e}", path.display()))?;
        MasterKey::from_base64(&text)
            .map_err(|e| format!("the master key file {}: {e}", path.display()).into())
    };
    if path.exists() {
        let key = read(path)?;
        tracing::info!(path = %path.display(), key_id = %key.id(), "master key read from its file");
        return Ok(key);
    }
    let key = MasterKey::generate()?;
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".{}.tmp", std::process::id()));
    let aside = std::path::PathBuf::from(aside);
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&aside)?;
        file.write_all(format!("{}\n", key.expose_base64()).as_bytes())?;
        file.sync_all()?;
    }
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                key_id = %key.id(),
                "created a master key file (mode 0600) beside the database: the signing keys in \
                 the database are sealed under it. Keep it, and back it up apart from the \
                 database; set ASSIMETRIA_AUTH_MASTER_KEY to keep it elsewhere"
            );
            Ok(key)
        }
        // Another server created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(format!("creating the master key file {}: {e}", path.display()).into()),
    }
}

/// The URL without a password, for the log.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_lists_keep_only_their_newest_items() {
        let data = DemoData::default();
        let body = LimitedBody {
            content_type: Some("application/json".into()),
            bytes: axum::body::Bytes::from_static(br#"{"title": "t"}"#),
            client: None,
        };
        for _ in 0..MAX_ITEMS + 5 {
            let reply = add_item(&data, "tasks", Environment::Live, "1", &body);
            assert_eq!(reply.status, 201);
        }
        assert_eq!(
            add_item(&data, "tasks", Environment::Test, "2", &body).status,
            201
        );
        let reply = list(&data, "tasks", Environment::Live);
        let listed: Value = serde_json::from_slice(&reply.body).unwrap();
        let tasks = listed["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), MAX_ITEMS);
        assert_eq!(tasks[0]["id"], 6, "the oldest five were dropped");
        assert_eq!(tasks[MAX_ITEMS - 1]["id"], (MAX_ITEMS + 5) as u64);
    }

    #[test]
    fn master_key_file_is_created_once_with_owner_only_access() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.db.master-key");
        let first = key_file(&path).unwrap();
        let again = key_file(&path).unwrap();
        assert_eq!(first, again, "the same key at every start");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
        assert_eq!(master_keys(&url).unwrap(), vec![first]);
        assert!(master_keys("postgres://u@localhost/db").is_err());
        assert!(master_keys("sqlite::memory:").unwrap().is_empty());
    }
}
