//! The example servers as their users run them: each example is started as a process on a fresh
//! SQLite file and spoken to over TCP.
//!
//! * `axum_and_actix_servers_answer_alike`: `server` (axum) and `server_actix` receive the same
//!   conversation (register, login, me, refresh, the demo resources with a token and with a
//!   test API key, forbidden writes, unknown paths, wrong methods, bad JSON, oversized bodies,
//!   a password reset through the outbox, key revocation, logout, …) and must answer each request
//!   with the same status, the same headers that matter and the same JSON body, once tokens,
//!   keys and timestamps are masked.
//! * `both_servers_stop_gracefully_and_restart_on_their_key_file`: `SIGTERM` ends each cleanly,
//!   and a restart on the same database reads the master key file and accepts the token issued
//!   before.
//! * `minimal_examples_serve_the_seed_and_their_own_route`: `minimal_axum` and `minimal_actix`.
//!
//! The executables are the ones `cargo test` has just built; the test asks cargo for their paths
//! (a build that finds everything fresh), so it also works under `cargo test --test equivalence`.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "equivalence admin password";

// ---------------------------------------------------------------------------------------------
// The example executables

/// The examples' executables by name, built (or found fresh) once per test binary.
fn examples() -> &'static HashMap<String, PathBuf> {
    static EXAMPLES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        // The profile this test was built with: target/<profile dir>/deps/equivalence-….
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name);
        let profile = match profile_dir.and_then(|d| d.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // The same packages and features as the README's `cargo test --all-features`, so this
        // build finds what that command built and compiles nothing; from the workspace root,
        // where that command runs (a relative CARGO_TARGET_DIR then names the same directory).
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let output = Command::new(cargo)
            .current_dir(root)
            .args([
                "build",
                "--workspace",
                "--all-features",
                "--profile",
                &profile,
            ])
            .args(["--example", "server", "--example", "server_actix"])
            .args(["--example", "minimal_axum", "--example", "minimal_actix"])
            .arg("--message-format=json-render-diagnostics")
            .stderr(Stdio::inherit())
            .output()
            .expect("running cargo");
        assert!(output.status.success(), "building the examples failed");
        let mut found = HashMap::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(message) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let target = &message["target"];
            let is_example = target["kind"]
                .as_array()
                .is_some_and(|k| k.contains(&json!("example")));
            if let (true, Some(name), Some(path)) = (
                is_example,
                target["name"].as_str(),
                message["executable"].as_str(),
            ) {
                found.insert(name.to_owned(), PathBuf::from(path));
            }
        }
        assert_eq!(found.len(), 4, "the examples cargo built: {found:?}");
        found
    })
}

// ---------------------------------------------------------------------------------------------
// A running example

/// A temporary directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "assimetria-auth-equivalence-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An example running as a child process; killed on drop if still running.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `example` with `env` (plus a free `ASSIMETRIA_AUTH_ADDR`) and waits until it
    /// answers HTTP. The only `ASSIMETRIA_AUTH_*` variables it sees are these.
    fn start(example: &'static str, env: &[(&str, String)], log: PathBuf) -> Server {
        let exe = &examples()[example];
        for _attempt in 0..5 {
            let addr = free_port();
            let log_file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("the server's log file");
            let mut command = Command::new(exe);
            for (name, _) in std::env::vars() {
                if name.starts_with("ASSIMETRIA_AUTH_") {
                    command.env_remove(name);
                }
            }
            command
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env("ASSIMETRIA_AUTH_ADDR", addr.to_string())
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("the log file"))
                .stderr(log_file);
            let child = command.spawn().expect("starting the example");
            let mut server = Server {
                name: example,
                addr,
                child,
                log: log.clone(),
            };
            if server.wait_until_serving() {
                return server;
            }
        }
        panic!(
            "{example} never answered; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Whether the server came up; `false` if it exited first (another process took the port).
    fn wait_until_serving(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(self.addr).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not start listening within 60 s", self.name);
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the process to end.
    #[cfg(unix)]
    fn stop(&mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop within 30 s of SIG{signal}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// The environment of a full example server on a fresh SQLite file in `dir`.
fn server_env(dir: &Path) -> Vec<(&'static str, String)> {
    let db = dir.join("auth.db");
    vec![
        (
            "ASSIMETRIA_AUTH_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db.display()),
        ),
        ("ASSIMETRIA_AUTH_ADMIN_EMAIL", ADMIN_EMAIL.into()),
        ("ASSIMETRIA_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        (
            "ASSIMETRIA_AUTH_OUTBOX",
            dir.join("outbox.jsonl").display().to_string(),
        ),
        ("ASSIMETRIA_AUTH_PUBLIC_URL", "https://app.example".into()),
    ]
}

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 client: one request per connection, bodies written from another thread (a
// server may answer and close before it has read a body it refuses)

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What to send, besides the method and path.
#[derive(Default, Clone)]
struct Req<'a> {
    bearer: Option<&'a str>,
    cookie: Option<&'a str>,
    content_type: Option<&'a str>,
    body: Option<Vec<u8>>,
    chunked: bool,
}

impl<'a> Req<'a> {
    fn bearer(token: &'a str) -> Self {
        Req {
            bearer: Some(token),
            ..Req::default()
        }
    }

    fn json(mut self, body: Value) -> Self {
        self.content_type = Some("application/json");
        self.body = Some(body.to_string().into_bytes());
        self
    }

    fn raw(mut self, content_type: &'a str, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some(content_type);
        self.body = Some(body.into());
        self
    }
}

fn send(addr: SocketAddr, method: &str, path: &str, req: &Req<'_>) -> Response {
    let stream = TcpStream::connect(addr).expect("connecting to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = req.bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(cookie) = req.cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(content_type) = req.content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    let body = req.body.clone().unwrap_or_default();
    if req.chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
    } else if req.body.is_some() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().expect("a second handle on the stream");
    let chunked = req.chunked;
    let writing = std::thread::spawn(move || {
        let mut bytes = head.into_bytes();
        if chunked {
            for chunk in body.chunks(16 * 1024) {
                bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                bytes.extend_from_slice(chunk);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        } else {
            bytes.extend_from_slice(&body);
        }
        let _ = writer.write_all(&bytes);
    });
    let response = read_response(stream, method == "HEAD");
    let _ = writing.join();
    response
}

fn read_response(mut stream: TcpStream, head_request: bool) -> Response {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(response) = parse_response(&buf, head_request, false) {
            return response;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    parse_response(&buf, head_request, true).unwrap_or_else(|| {
        panic!(
            "an incomplete response: {:?}",
            String::from_utf8_lossy(&buf)
        )
    })
}

/// The response in `buf` if it is complete (`at_end`: the connection has closed).
fn parse_response(buf: &[u8], head_request: bool, at_end: bool) -> Option<Response> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).expect("an ASCII response head");
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &buf[end + 4..];
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let body = if head_request || status == 204 || status == 304 {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().ok()?;
        rest.get(..len)?.to_vec()
    } else if at_end {
        rest.to_vec()
    } else {
        return None;
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

/// A chunked body, if all of it has arrived.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The conversation

/// One exchange as compared: what was asked, and the answer with its varying parts masked.
#[derive(Debug, PartialEq)]
struct Exchange {
    step: String,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

/// The headers compared: those a client acts on.
const COMPARED_HEADERS: [&str; 6] = [
    "content-type",
    "www-authenticate",
    "allow",
    "retry-after",
    "cache-control",
    "set-cookie",
];

/// Replaces what differs between two servers by nature (tokens, keys, key ids, times) with a
/// placeholder naming it.
fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, v) in map.iter_mut() {
                match name.as_str() {
                    "token" | "refresh_token" | "key" | "prefix" | "kid" | "x" | "link"
                        if v.is_string() =>
                    {
                        *v = json!(format!("<{name}>"));
                    }
                    "created_at" | "last_used_at" | "revoked_at" | "expires_at" => {
                        *v = json!("<time>");
                    }
                    _ => mask(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// `assimetria_jwt=<token>; …` with the token masked.
fn mask_cookie(cookie: &str) -> String {
    match cookie.split_once('=') {
        Some((name, rest)) => {
            let attributes = rest.find(';').map_or("", |i| &rest[i..]);
            let token = &rest[..rest.len() - attributes.len()];
            let token = if token.is_empty() { "" } else { "<token>" };
            format!("{name}={token}{attributes}")
        }
        None => cookie.to_owned(),
    }
}

/// Talks to one server, recording every exchange.
struct Conversation<'s> {
    server: &'s Server,
    exchanges: Vec<Exchange>,
}

impl<'s> Conversation<'s> {
    /// Sends `request` (`"METHOD /path"`), records the exchange, and checks the status this
    /// conversation expects (so that a step both servers get wrong alike still fails).
    fn ask(&mut self, expect: u16, request: &str, req: Req<'_>) -> Value {
        let (method, path) = request.split_once(' ').expect("METHOD /path");
        let step = format!("#{} {request}", self.exchanges.len() + 1);
        let r = send(self.server.addr, method, path, &req);
        let (name, status) = (self.server.name, r.status);
        let text = String::from_utf8_lossy(&r.body);
        let log = self.server.log();
        assert_eq!(status, expect, "{name} {step}: {status} {text}\n{log}");
        if method == "HEAD" {
            assert!(r.body.is_empty(), "{name} {step}: HEAD with a body");
        }
        let body = r.json();
        let mut masked = body.clone();
        mask(&mut masked);
        let headers = COMPARED_HEADERS
            .iter()
            .filter_map(|&header| {
                let value = r.header(header)?;
                let value = match header {
                    "set-cookie" => mask_cookie(value),
                    _ => value.to_owned(),
                };
                Some((header, value))
            })
            .collect();
        self.exchanges.push(Exchange {
            step,
            status,
            headers,
            body: masked,
        });
        body
    }
}

fn text(value: &Value, pointer: &str) -> String {
    let found = value.pointer(pointer).and_then(Value::as_str);
    found
        .unwrap_or_else(|| panic!("no {pointer} in {value}"))
        .to_owned()
}

/// The conversation both servers must answer alike. `dir` holds the server's outbox.
fn converse(server: &Server, dir: &Path) -> Vec<Exchange> {
    let mut c = Conversation {
        server,
        exchanges: Vec::new(),
    };
    let none = Req::default;
    let json = |body: Value| Req::default().json(body);
    // A body sent as JSON, whatever it holds: without a credential, and with the admin's.
    let body = |body: &str| Req::default().raw("application/json", body);
    let viewer = json!({"email": "viewer@example.com", "password": "viewer password 1"});
    let admin = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});

    c.ask(200, "GET /health", none());
    c.ask(200, "HEAD /health", none());
    // The same OpenAPI document, public, from both servers.
    let document = c.ask(200, "GET /openapi.json", none());
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/api/settings"]["put"].is_object());
    c.ask(200, "HEAD /openapi.json", none());
    c.ask(405, "POST /openapi.json", none());
    c.ask(401, "GET /api/tasks", none());
    c.ask(401, "GET /api/tasks", Req::bearer("not-a-jwt"));

    // Accounts: register (and again), an invalid email, a wrong password, login, me, refresh.
    let registered = c.ask(201, "POST /api/auth/register", json(viewer.clone()));
    let viewer_token = text(&registered, "/token");
    let viewer_id = &registered["user"]["id"];
    c.ask(409, "POST /api/auth/register", json(viewer));
    let bad_email = json!({"email": "not an email", "password": "long enough password"});
    c.ask(422, "POST /api/auth/register", json(bad_email));
    let wrong = json!({"email": ADMIN_EMAIL, "password": "not the password"});
    c.ask(401, "POST /api/auth/login", json(wrong));
    let login = c.ask(200, "POST /api/auth/login", json(admin));
    let first_token = text(&login, "/token");
    c.ask(200, "GET /api/auth/me", Req::bearer(&first_token));
    let refresh = json!({"refresh_token": text(&login, "/refresh_token")});
    let refreshed = c.ask(200, "POST /api/auth/refresh", json(refresh));
    let token = text(&refreshed, "/token");
    let admin = || Req::bearer(&token);
    let admin_body = |body: &str| admin().raw("application/json", body);
    c.ask(200, "GET /api/auth/me", admin());
    // The cookie: reads pass; a write without an Origin is refused (CSRF).
    let cookie = format!("assimetria_jwt={token}");
    let by_cookie = || Req {
        cookie: Some(&cookie),
        ..Req::default()
    };
    c.ask(200, "GET /api/auth/me", by_cookie());
    let from_elsewhere = by_cookie().json(json!({"title": "from another site"}));
    c.ask(403, "POST /api/tasks", from_elsewhere);

    // The demo resources with the admin's token.
    for (resource, item) in [
        ("tasks", json!({"title": "live task"})),
        ("agents", json!({"name": "live agent"})),
        ("products", json!({"name": "live product", "price": 12.5})),
    ] {
        c.ask(201, &format!("POST /api/{resource}"), admin().json(item));
        c.ask(200, &format!("GET /api/{resource}"), admin());
    }
    c.ask(200, "HEAD /api/tasks", admin());

    // A test API key: its data is kept apart from live data.
    let key_request = json!({"name": "sandbox", "environment": "test", "role": "member"});
    let created = c.ask(201, "POST /api/api-keys", admin().json(key_request));
    let key = text(&created, "/key");
    let key_id = &created["api_key"]["id"];
    let as_key = || Req::bearer(&key);
    let sandbox_task = json!({"title": "sandbox task"});
    c.ask(201, "POST /api/tasks", as_key().json(sandbox_task));
    c.ask(200, "GET /api/tasks", as_key());
    c.ask(200, "GET /api/tasks", admin());
    c.ask(200, "GET /api/api-keys", admin());

    // What a role does not hold: a viewer's write, a member key's admin settings.
    let as_viewer = || Req::bearer(&viewer_token);
    let task = json!({"title": "not for a viewer"});
    c.ask(403, "POST /api/tasks", as_viewer().json(task));
    c.ask(200, "GET /api/tasks", as_viewer());
    let theme = json!({"theme": "dark"});
    c.ask(403, "PUT /api/settings", as_viewer().json(theme.clone()));
    c.ask(403, "PUT /api/settings", as_key().json(theme.clone()));
    c.ask(403, "GET /api/api-keys", as_viewer());

    // Settings: unset, set, refused, read.
    c.ask(200, "GET /api/settings", admin());
    c.ask(200, "PUT /api/settings", admin().json(theme));
    c.ask(422, "PUT /api/settings", admin_body("[1, 2]"));
    c.ask(200, "GET /api/settings", admin());

    // Unknown paths; wrong methods on the host's routes (with and without a credential) and on
    // the seed's.
    c.ask(404, "GET /api/nothing-here", admin());
    c.ask(404, "POST /nothing-here", json(json!({})));
    c.ask(404, "GET /api/tasks/", admin());
    c.ask(405, "DELETE /api/tasks", admin());
    c.ask(405, "PUT /api/agents", none());
    c.ask(405, "PATCH /api/settings", admin());
    c.ask(405, "POST /health", none());
    c.ask(405, "GET /api/auth/login", none());
    c.ask(405, "DELETE /api/users", admin());

    // Bodies that are not what the route takes: truncated JSON, an array, not JSON, no fields.
    let truncated = "{\"title\": ";
    c.ask(400, "POST /api/tasks", admin_body(truncated));
    c.ask(422, "POST /api/tasks", admin_body("[1]"));
    c.ask(400, "POST /api/auth/login", body(truncated));
    let text_plain = Req::default().raw("text/plain", "{}");
    c.ask(400, "POST /api/auth/login", text_plain);
    c.ask(422, "POST /api/auth/login", body("{}"));

    // Bodies past the 64 KiB limit (declared, or chunked): refused after authentication,
    // before any JSON is read.
    let big = || format!("{{\"title\": \"{}\"}}", "x".repeat(70_000));
    let oversized = || admin_body(&big());
    c.ask(413, "POST /api/tasks", oversized());
    let chunked = Req {
        chunked: true,
        ..oversized()
    };
    c.ask(413, "POST /api/tasks", chunked);
    c.ask(413, "PUT /api/settings", oversized());
    c.ask(413, "POST /api/auth/login", body(&big()));
    c.ask(401, "POST /api/tasks", body(&big()));

    // The verification mail registration queued, through the outbox mailer: single use.
    let mail = last_mail(&dir.join("outbox.jsonl"), "verify_email");
    assert_eq!(text(&mail, "/to"), "viewer@example.com");
    let verify_token = text(&mail, "/token");
    let link = format!("https://app.example/verify-email?token={verify_token}");
    assert_eq!(text(&mail, "/link"), link);
    let verify = json!({"token": verify_token});
    c.ask(200, "POST /api/auth/verify-email", json(verify.clone()));
    c.ask(400, "POST /api/auth/verify-email", json(verify));

    // A password reset through the outbox mailer; it ends the sessions the user had.
    let forgot = json!({"email": "viewer@example.com"});
    c.ask(200, "POST /api/auth/forgot-password", json(forgot));
    let mail = last_mail(&dir.join("outbox.jsonl"), "password_reset");
    let reset_token = text(&mail, "/token");
    let link = format!("https://app.example/reset-password?token={reset_token}");
    assert_eq!(text(&mail, "/link"), link);
    let mut masked_mail = mail.clone();
    mask(&mut masked_mail);
    c.exchanges.push(Exchange {
        step: "the outbox's mail".into(),
        status: 0,
        headers: Vec::new(),
        body: masked_mail,
    });
    let reset = json!({"token": reset_token, "password": "a new viewer password"});
    c.ask(200, "POST /api/auth/reset-password", json(reset.clone()));
    c.ask(400, "POST /api/auth/reset-password", json(reset));
    c.ask(401, "GET /api/auth/me", as_viewer());
    let old = json!({"email": "viewer@example.com", "password": "viewer password 1"});
    c.ask(401, "POST /api/auth/login", json(old));
    let new = json!({"email": "viewer@example.com", "password": "a new viewer password"});
    let login = c.ask(200, "POST /api/auth/login", json(new));
    let viewer_token = text(&login, "/token");

    // Users and roles; a role change ends the user's sessions.
    c.ask(200, "GET /api/users", admin());
    let member = || admin().json(json!({"role": "member"}));
    c.ask(200, &format!("PATCH /api/users/{viewer_id}"), member());
    c.ask(404, "PATCH /api/users/999", member());
    c.ask(401, "GET /api/auth/me", Req::bearer(&viewer_token));

    // Key revocation, logout, the public keys.
    c.ask(200, &format!("DELETE /api/api-keys/{key_id}"), admin());
    c.ask(401, "GET /api/tasks", as_key());
    c.ask(200, "GET /api/api-keys", admin());
    c.ask(200, "POST /api/auth/logout", admin());
    c.ask(401, "GET /api/auth/me", admin());
    c.ask(401, "POST /api/auth/logout", admin());
    c.ask(200, "GET /.well-known/jwks.json", none());
    c.exchanges
}

/// The newest line of the outbox. The service sends mail off the request path (a reply must
/// not tell whether the account exists), so it may arrive just after the reply.
/// The newest mail of `kind` in the outbox, waiting for one: mails leave from background tasks,
/// so their order in the file is not the order of the requests that queued them.
fn last_mail(outbox: &Path, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(outbox).unwrap_or_default();
        let mut mails = text
            .lines()
            .rev()
            .map(|line| -> Value { serde_json::from_str(line).expect("a JSON line") });
        if let Some(mail) = mails.find(|m| m["kind"] == kind) {
            return mail;
        }
        assert!(Instant::now() < deadline, "no mail in {}", outbox.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every exchange where the two conversations differ, side by side.
fn differences(a: (&str, &[Exchange]), b: (&str, &[Exchange])) -> Vec<String> {
    assert_eq!(
        a.1.len(),
        b.1.len(),
        "the conversations have different lengths"
    );
    let pretty = |e: &Exchange| {
        format!(
            "{} {:?}\n    {}",
            e.status,
            e.headers,
            serde_json::to_string(&e.body).unwrap_or_default()
        )
    };
    a.1.iter()
        .zip(b.1)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| {
            format!(
                "{}\n  {}: {}\n  {}: {}",
                x.step,
                a.0,
                pretty(x),
                b.0,
                pretty(y)
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn axum_and_actix_servers_answer_alike() {
    let (axum_dir, actix_dir) = (TempDir::new(), TempDir::new());
    let axum = Server::start("server", &server_env(&axum_dir.0), axum_dir.0.join("log"));
    let actix = Server::start(
        "server_actix",
        &server_env(&actix_dir.0),
        actix_dir.0.join("log"),
    );
    let on_axum = converse(&axum, &axum_dir.0);
    let on_actix = converse(&actix, &actix_dir.0);
    assert!(on_axum.len() >= 70, "{} exchanges", on_axum.len());
    let diffs = differences(("axum", &on_axum), ("actix", &on_actix));
    assert!(
        diffs.is_empty(),
        "{} of {} exchanges differ:\n\n{}",
        diffs.len(),
        on_axum.len(),
        diffs.join("\n\n")
    );
}

/// Unix only: it stops the servers with signals.
#[cfg(unix)]
#[test]
fn both_servers_stop_gracefully_and_restart_on_their_key_file() {
    for example in ["server", "server_actix"] {
        let dir = TempDir::new();
        let log = dir.0.join("log");
        let mut server = Server::start(example, &server_env(&dir.0), log.clone());
        let admin = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        let login = send(
            server.addr,
            "POST",
            "/api/auth/login",
            &Req::default().json(admin),
        );
        assert_eq!(login.status, 200, "{example}: {}", server.log());
        let token = text(&login.json(), "/token");
        let jwks = send(
            server.addr,
            "GET",
            "/.well-known/jwks.json",
            &Req::default(),
        )
        .json();

        let status = server.stop("TERM");
        assert!(
            status.success(),
            "{example} after SIGTERM: {status}\n{}",
            server.log()
        );
        assert!(
            server.log().contains("shutting down"),
            "{example}: {}",
            server.log()
        );
        let key_file = dir.0.join("auth.db.master-key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&key_file)
                .expect("the key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{example}: the master key file's mode");
        }

        // Without the admin variables this time: the account and the key come from the files.
        let env: Vec<_> = server_env(&dir.0)
            .into_iter()
            .filter(|(name, _)| !name.starts_with("ASSIMETRIA_AUTH_ADMIN_"))
            .collect();
        let mut again = Server::start(example, &env, log);
        let me = send(again.addr, "GET", "/api/auth/me", &Req::bearer(&token));
        assert_eq!(
            me.status, 200,
            "{example}: the token from before the restart"
        );
        let after = send(again.addr, "GET", "/.well-known/jwks.json", &Req::default()).json();
        assert_eq!(
            after, jwks,
            "{example}: the signing key changed across the restart"
        );
        let status = again.stop("INT");
        assert!(
            status.success(),
            "{example} after SIGINT: {status}\n{}",
            again.log()
        );
    }
}

#[test]
fn minimal_examples_serve_the_seed_and_their_own_route() {
    let mut seen = Vec::new();
    for example in ["minimal_axum", "minimal_actix"] {
        let dir = TempDir::new();
        let server = Server::start(example, &[], dir.0.join("log"));
        let admin = json!({"email": "admin@example.com", "password": "change me now"});
        let mut c = Conversation {
            server: &server,
            exchanges: Vec::new(),
        };
        let login = c.ask(200, "POST /api/auth/login", Req::default().json(admin));
        let token = text(&login, "/token");
        let reports = c.ask(200, "GET /api/reports", Req::bearer(&token));
        assert_eq!(
            reports,
            json!({"success": true, "reports": [], "caller": "1"})
        );
        c.ask(401, "GET /api/reports", Req::default());
        c.ask(200, "GET /api/auth/me", Req::bearer(&token));
        // A visitor who signs up gets the host's default role, which holds no `reports:read`.
        let guest = json!({"email": "guest@example.com", "password": "guest password"});
        let signed_up = c.ask(201, "POST /api/auth/register", Req::default().json(guest));
        assert_eq!(signed_up["user"]["role"], "guest");
        let guest_token = text(&signed_up, "/token");
        c.ask(403, "GET /api/reports", Req::bearer(&guest_token));
        c.ask(404, "GET /api/nothing-here", Req::default());
        seen.push((example, c.exchanges));
    }
    let diffs = differences((seen[0].0, &seen[0].1), (seen[1].0, &seen[1].1));
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}
