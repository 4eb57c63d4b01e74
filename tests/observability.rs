//! Observability: each metric moves, with the right label, when its flow runs; the flows open
//! the spans `assimetria_auth::observe` names, and no secret of a whole conversation reaches a
//! span or event field.
//!
//! One global `metrics` recorder (metrics-util's debugging recorder) serves the binary. Its
//! snapshots drain what they read, so each check takes one before the flow (dropping what came
//! before) and one after; the tests hold one lock, so a flow of one never counts in the other.

mod harness;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use assimetria_auth::api_key::Environment;
use assimetria_auth::clock::ManualClock;
use assimetria_auth::config::{RateLimit, RateLimits};
use assimetria_auth::observe;
use assimetria_auth::rbac::seed;
use assimetria_auth::{AuthConfig, AuthService, Error, MemoryStore, RefreshToken, ResetToken};
use harness::*;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

/// Held by every test of this binary: the recorder is global.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The debugging recorder, installed once for the binary.
fn recorder() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("no other recorder in this binary");
        snapshotter
    })
}

/// One metric's recording: its kind, name, labels and value.
type Sample = (MetricKind, String, Vec<(String, String)>, DebugValue);

/// What the metrics recorded between two snapshots.
struct Moved(Vec<Sample>);

impl Moved {
    /// Drops what was recorded so far: the next `since` sees only what follows.
    fn start() {
        recorder().snapshot();
    }

    /// What was recorded since the last snapshot.
    fn since() -> Moved {
        let list = recorder().snapshot().into_vec();
        Moved(
            list.into_iter()
                .map(|(key, _, _, value)| {
                    let (kind, key) = key.into_parts();
                    let labels = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect();
                    (kind, key.name().to_owned(), labels, value)
                })
                .collect(),
        )
    }

    /// The counter `name{label=value}`'s increase (0 if it never moved).
    fn counter(&self, name: &str, label: &str, value: &str) -> u64 {
        self.0
            .iter()
            .filter(|(kind, n, labels, _)| {
                *kind == MetricKind::Counter
                    && n == name
                    && labels.iter().any(|(k, v)| k == label && v == value)
            })
            .map(|(.., v)| match v {
                DebugValue::Counter(c) => *c,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    /// How many samples the histogram `name` took.
    fn samples(&self, name: &str) -> usize {
        self.0
            .iter()
            .filter(|(kind, n, ..)| *kind == MetricKind::Histogram && n == name)
            .map(|(.., v)| match v {
                DebugValue::Histogram(samples) => samples.len(),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .sum()
    }

    /// The gauge `name`'s net change, if it moved at all.
    fn gauge(&self, name: &str) -> Option<f64> {
        self.0.iter().find_map(|(kind, n, _, v)| match v {
            DebugValue::Gauge(g) if *kind == MetricKind::Gauge && n == name => Some(g.0),
            _ => None,
        })
    }
}

#[tokio::test]
async fn metrics_move_with_their_flows() {
    let _serial = SERIAL.lock().await;
    let mut limits = RateLimits::default();
    limits.login_per_account = RateLimit::new(3, Duration::from_secs(60));
    let h = harness(AuthConfig::builder().rate_limits(limits).build().unwrap()).await;
    h.sign_up(EMAIL).await;

    // Logins: one right, two wrong, then the account's limit refuses the fourth.
    Moved::start();
    let login = h.service.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
    for _ in 0..2 {
        let e = h.service.login(EMAIL, &pw("wrong password"), None).await;
        assert!(matches!(e, Err(Error::InvalidCredentials)));
    }
    let e = h.service.login(EMAIL, &pw(PASSWORD), None).await;
    assert!(matches!(e, Err(Error::RateLimited { .. })));
    let m = Moved::since();
    assert_eq!(m.counter(observe::LOGINS, "outcome", "success"), 1);
    assert_eq!(
        m.counter(observe::LOGINS, "outcome", "invalid_credentials"),
        2
    );
    assert_eq!(m.counter(observe::LOGINS, "outcome", "rate_limited"), 1);
    assert_eq!(m.counter(observe::RATE_LIMITED, "action", "login"), 1);
    assert_eq!(m.counter(observe::RATE_LIMITED, "action", "register"), 0);
    // Three verifications ran (the refused login did none), each through the queue, which
    // ends empty.
    assert_eq!(m.samples(observe::PASSWORD_VERIFY), 3);
    assert_eq!(m.samples(observe::PASSWORD_QUEUE_WAIT), 3);
    assert_eq!(m.gauge(observe::PASSWORD_QUEUE_DEPTH), Some(0.0));

    // Refreshes: a rotation, a retry inside the grace window, the spent token after it, and
    // a made-up one.
    Moved::start();
    let first = &login.refresh_token;
    h.service.refresh(first).await.unwrap();
    h.service.refresh(first).await.unwrap();
    h.clock.advance(Duration::from_secs(11));
    let e = h.service.refresh(first).await;
    assert!(matches!(e, Err(Error::RefreshTokenReused)));
    let e = h.service.refresh(&RefreshToken::new("made-up")).await;
    assert!(matches!(e, Err(Error::InvalidRefreshToken)));
    let m = Moved::since();
    assert_eq!(m.counter(observe::REFRESHES, "outcome", "success"), 1);
    assert_eq!(m.counter(observe::REFRESHES, "outcome", "grace_retry"), 1);
    assert_eq!(
        m.counter(observe::REFRESHES, "outcome", "reuse_detected"),
        1
    );
    assert_eq!(m.counter(observe::REFRESHES, "outcome", "invalid"), 1);

    // Access tokens: accepted (twice: the second a cache hit; acceptances are not counted, they
    // are the hot path), revoked with their session (the reuse above ended it), expired.
    let admin = h.user("admin@example.com", seed::ADMIN).await;
    Moved::start();
    h.service.authenticate(admin.access()).await.unwrap();
    h.service.authenticate(admin.access()).await.unwrap();
    let e = h.service.authenticate(login.access_token.expose()).await;
    assert!(matches!(e, Err(Error::InvalidToken(_))));
    let m = Moved::since();
    assert_eq!(
        m.counter(observe::TOKEN_AUTHENTICATIONS, "outcome", "success"),
        0
    );
    assert_eq!(
        m.counter(observe::TOKEN_AUTHENTICATIONS, "outcome", "revoked"),
        1
    );

    // API keys: accepted (a store read, then a cache hit), then refused once revoked.
    let key = h
        .service
        .create_api_key(&admin.principal, "ci", Environment::Live, None)
        .await
        .unwrap();
    Moved::start();
    h.service.authenticate(key.key.expose()).await.unwrap();
    h.service.authenticate(key.key.expose()).await.unwrap();
    h.service
        .revoke_api_key(&admin.principal, key.info.id)
        .await
        .unwrap();
    let e = h.service.authenticate(key.key.expose()).await;
    assert!(matches!(e, Err(Error::InvalidApiKey)));
    let m = Moved::since();
    assert_eq!(
        m.counter(observe::API_KEY_AUTHENTICATIONS, "outcome", "success"),
        2
    );
    assert_eq!(
        m.counter(observe::API_KEY_AUTHENTICATIONS, "outcome", "invalid"),
        1
    );
    assert_eq!(
        m.counter(observe::TOKEN_AUTHENTICATIONS, "outcome", "success"),
        0
    );

    // A day later the admin's access token has expired.
    h.clock.advance(Duration::from_secs(25 * 3600));
    Moved::start();
    let e = h.service.authenticate(admin.access()).await;
    assert!(matches!(e, Err(Error::InvalidToken(_))));
    let m = Moved::since();
    assert_eq!(
        m.counter(observe::TOKEN_AUTHENTICATIONS, "outcome", "expired"),
        1
    );
}

/// Every span name, and every span and event field as `name=value` text.
#[derive(Clone, Default)]
struct Recorded {
    spans: Arc<Mutex<Vec<String>>>,
    fields: Arc<Mutex<Vec<String>>>,
}

/// Writes each field it visits as `name=value`.
struct Text<'a>(&'a mut Vec<String>);

impl Visit for Text<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl<S: Subscriber> Layer<S> for Recorded {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.spans
            .lock()
            .unwrap()
            .push(attrs.metadata().name().to_owned());
        attrs.record(&mut Text(&mut self.fields.lock().unwrap()));
    }

    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        values.record(&mut Text(&mut self.fields.lock().unwrap()));
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = self.fields.lock().unwrap();
        // Audit events are marked: they may name the email a failed login tried (the audit
        // trail's purpose), which the spans and the crate's other events never do.
        if event.metadata().target() == "assimetria_auth::audit" {
            let mut audit = Vec::new();
            event.record(&mut Text(&mut audit));
            fields.extend(audit.into_iter().map(|f| format!("audit:{f}")));
        } else {
            event.record(&mut Text(&mut fields));
        }
    }
}

#[tokio::test]
async fn spans_name_the_flows_and_carry_no_secret() {
    let _serial = SERIAL.lock().await;
    let recorded = Recorded::default();
    let subscriber = tracing_subscriber::registry().with(recorded.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    // The default audit sink, which writes its events with `tracing`: they are checked too.
    let mut config = AuthConfig::builder().rate_limiting(false).build().unwrap();
    config.master_keys.push(test_master_key());
    let mailer = Arc::new(RecordingMailer::default());
    let clock = Arc::new(ManualClock::new(T0));
    let auth = AuthService::builder(config, Arc::new(MemoryStore::new()))
        .clock(clock.clone())
        .mailer(mailer.clone())
        .policy(seed::policy())
        .build()
        .await
        .unwrap();

    let (admin_password, new_password, newest_password) = (
        "admin password 1",
        "brand new password",
        "the newest password",
    );
    let registered = auth.register(EMAIL, &pw(PASSWORD), None).await.unwrap();
    // A failed login: the wrong password must reach no field, audit events included.
    let wrong_password = "a wrong password 42";
    let failed = auth.login(EMAIL, &pw(wrong_password), None).await;
    assert!(matches!(failed, Err(Error::InvalidCredentials)));
    let login = auth.login(EMAIL, &pw(PASSWORD), None).await.unwrap();
    let refreshed = auth.refresh(&login.refresh_token).await.unwrap();
    clock.advance(Duration::from_secs(11));
    let reused = auth.refresh(&login.refresh_token).await;
    assert!(matches!(reused, Err(Error::RefreshTokenReused)));

    auth.create_user("admin@example.com", &pw(admin_password), seed::ADMIN)
        .await
        .unwrap();
    let admin_login = auth
        .login("admin@example.com", &pw(admin_password), None)
        .await
        .unwrap();
    let admin = auth
        .authenticate(admin_login.access_token.expose())
        .await
        .unwrap();
    let key = auth
        .create_api_key(&admin, "ci", Environment::Live, None)
        .await
        .unwrap();
    auth.authenticate(key.key.expose()).await.unwrap();

    auth.forgot_password(EMAIL, None).await.unwrap();
    let (_, reset_token) = mailer.wait_for(1).await;
    auth.reset_password(&ResetToken::new(reset_token.clone()), &pw(new_password))
        .await
        .unwrap();
    let last = auth.login(EMAIL, &pw(new_password), None).await.unwrap();
    let user = auth.authenticate(last.access_token.expose()).await.unwrap();
    auth.change_password(&user, &pw(new_password), &pw(newest_password), None)
        .await
        .unwrap();
    auth.logout(&user).await.unwrap();
    auth.shutdown().await.unwrap();

    let spans: HashSet<String> = recorded.spans.lock().unwrap().iter().cloned().collect();
    for name in [
        "register",
        "login",
        "refresh",
        "create_user",
        "create_api_key",
        "authenticate",
        "forgot_password",
        "reset_password",
        "change_password",
        "logout",
        "shutdown",
    ] {
        assert!(spans.contains(name), "no span {name:?} in {spans:?}");
    }

    let fields = recorded.fields.lock().unwrap().join("\n");
    // The layer sees the fields (so the checks below look at real text): the user, the outcome
    // of the reused refresh, the key's environment.
    assert!(
        fields.contains(&format!("user_id={}", user.user_id)),
        "{fields}"
    );
    assert!(fields.contains("outcome=refresh_token_reused"), "{fields}");
    assert!(fields.contains("environment=live"), "{fields}");
    let secrets = [
        wrong_password,
        PASSWORD,
        admin_password,
        new_password,
        newest_password,
        registered.access_token.expose(),
        registered.refresh_token.expose(),
        login.access_token.expose(),
        login.refresh_token.expose(),
        refreshed.access_token.expose(),
        refreshed.refresh_token.expose(),
        admin_login.access_token.expose(),
        admin_login.refresh_token.expose(),
        last.access_token.expose(),
        last.refresh_token.expose(),
        key.key.expose(),
        &reset_token,
    ];
    for (i, secret) in secrets.iter().enumerate() {
        assert!(
            !fields.contains(secret),
            "a span or event recorded secret #{i} of the list"
        );
    }
    // Nor the email address, outside the audit trail: spans name users by id.
    assert!(
        fields.contains(&format!("audit:event=LoginFailed {{ email: \"{EMAIL}\" }}")),
        "the failed login's audit event is recorded: {fields}"
    );
    let outside_audit: Vec<&str> = fields
        .lines()
        .filter(|f| !f.starts_with("audit:"))
        .collect();
    assert!(
        !outside_audit.iter().any(|f| f.contains(EMAIL)),
        "{outside_audit:?}"
    );
}
