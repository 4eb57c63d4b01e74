//! The service harness: an `AuthService` on a manual clock with a recording mailer and audit
//! sink (`Harness`), and signed-in users to test with (`registered_user`, `Harness::sign_up`,
//! `Harness::user`, `signed_in`).
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use assimetria_auth::audit::{AuditEvent, AuditSink};
use assimetria_auth::clock::ManualClock;
use assimetria_auth::mail::{Mail, MailKind, Mailer};
use assimetria_auth::rbac::{Policy, Role};
use assimetria_auth::store::Store;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::{AccessToken, Password, RefreshToken};
use assimetria_auth::{AuthConfig, AuthService, Error, MasterKey};
use assimetria_auth::{LoginOutcome, Principal, UserInfo};
use async_trait::async_trait;

pub const T0: i64 = 1_800_000_000;

/// The password of every user the helpers below create.
pub const PASSWORD: &str = "correct horse battery";

/// The email [`registered_user`] signs up.
pub const EMAIL: &str = "a@example.com";

/// Records every mail (with its token, as a real mail would carry it): password-reset mails in
/// `sent`, verification mails in `verifications`.
#[derive(Debug, Default)]
pub struct RecordingMailer {
    pub sent: Mutex<Vec<(String, String)>>,
    pub verifications: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: Mail) -> Result<(), Error> {
        let list = match mail.kind {
            MailKind::VerifyEmail => &self.verifications,
            _ => &self.sent,
        };
        list.lock()
            .unwrap()
            .push((mail.to.clone(), mail.token.expose().to_owned()));
        Ok(())
    }
}

impl RecordingMailer {
    /// Waits (briefly) for the `n`th mail: the service sends from a background task.
    pub async fn wait_for(&self, n: usize) -> (String, String) {
        for _ in 0..200 {
            if let Some(m) = self.sent.lock().unwrap().get(n - 1).cloned() {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("mail {n} never arrived");
    }

    pub fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// Waits (briefly) for the `n`th verification mail.
    pub async fn wait_for_verification(&self, n: usize) -> (String, String) {
        for _ in 0..200 {
            if let Some(m) = self.verifications.lock().unwrap().get(n - 1).cloned() {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("verification mail {n} never arrived");
    }

    pub fn verification_count(&self) -> usize {
        self.verifications.lock().unwrap().len()
    }
}

/// Records every audit event.
#[derive(Debug, Default)]
pub struct RecordingAudit {
    pub events: Mutex<Vec<AuditEvent>>,
}

impl AuditSink for RecordingAudit {
    fn record(&self, event: &AuditEvent) {
        self.events.lock().unwrap().push(event.clone());
    }
}

impl RecordingAudit {
    pub fn all(&self) -> Vec<AuditEvent> {
        self.events.lock().unwrap().clone()
    }
}

pub struct Harness {
    pub service: AuthService,
    pub clock: Arc<ManualClock>,
    pub mailer: Arc<RecordingMailer>,
    pub audit: Arc<RecordingAudit>,
    pub store: Arc<dyn Store>,
}

/// The master key the harness gives services whose config names none, so that several services
/// over one store (a restart, a second instance) open each other's keys.
pub fn test_master_key() -> MasterKey {
    MasterKey::from_bytes([11; 32])
}

pub async fn harness_with(config: AuthConfig, store: Arc<dyn Store>) -> Harness {
    harness_with_policy(config, store, Policy::seed()).await
}

/// A harness whose service checks permissions against `policy`.
pub async fn harness_with_policy(
    mut config: AuthConfig,
    store: Arc<dyn Store>,
    policy: Policy,
) -> Harness {
    if config.master_keys.is_empty() {
        config.master_keys.push(test_master_key());
    }
    let clock = Arc::new(ManualClock::new(T0));
    let mailer = Arc::new(RecordingMailer::default());
    let audit = Arc::new(RecordingAudit::default());
    let service = AuthService::builder(config, Arc::clone(&store))
        .clock(clock.clone())
        .mailer(mailer.clone())
        .audit(audit.clone())
        .policy(policy)
        .build()
        .await
        .unwrap();
    Harness {
        service,
        clock,
        mailer,
        audit,
        store,
    }
}

pub async fn harness(config: AuthConfig) -> Harness {
    harness_with(config, Arc::new(MemoryStore::new())).await
}

pub async fn default_harness() -> Harness {
    harness(AuthConfig::builder().rate_limiting(false).build().unwrap()).await
}

pub fn pw(s: &str) -> Password {
    Password::new(s)
}

/// A user who has just signed in, with everything a test goes on with.
#[derive(Debug)]
pub struct SignedIn {
    /// The user, as the login showed it.
    pub user: UserInfo,
    /// Who the access token authenticates as.
    pub principal: Principal,
    /// The login's access token.
    pub access_token: AccessToken,
    /// The login's refresh token.
    pub refresh_token: RefreshToken,
}

impl SignedIn {
    async fn from_login(service: &AuthService, login: LoginOutcome) -> SignedIn {
        let principal = service
            .authenticate(login.access_token.expose())
            .await
            .expect("a fresh access token authenticates");
        SignedIn {
            user: login.user,
            principal: Principal::clone(&principal),
            access_token: login.access_token,
            refresh_token: login.refresh_token,
        }
    }

    /// The access token's text.
    pub fn access(&self) -> &str {
        self.access_token.expose()
    }
}

/// Creates a user with `role` and [`PASSWORD`] on `service` (as a host seeding accounts does) and
/// signs them in.
pub async fn signed_in(service: &AuthService, email: &str, role: Role) -> SignedIn {
    service
        .create_user(email, &pw(PASSWORD), role)
        .await
        .expect("create user");
    let login = service
        .login(email, &pw(PASSWORD), None)
        .await
        .expect("log in");
    SignedIn::from_login(service, login).await
}

/// The default harness with [`EMAIL`] registered (password [`PASSWORD`]) and signed in.
pub async fn registered_user() -> (Harness, SignedIn) {
    let h = default_harness().await;
    let user = h.sign_up(EMAIL).await;
    (h, user)
}

impl Harness {
    /// Registers `email` with [`PASSWORD`] (the configured default role), as a visitor does:
    /// `register` signs them in.
    pub async fn sign_up(&self, email: &str) -> SignedIn {
        let login = self
            .service
            .register(email, &pw(PASSWORD), None)
            .await
            .expect("register");
        SignedIn::from_login(&self.service, login).await
    }

    /// Creates a user with `role` and signs them in (see [`signed_in`]).
    pub async fn user(&self, email: &str, role: Role) -> SignedIn {
        signed_in(&self.service, email, role).await
    }
}
