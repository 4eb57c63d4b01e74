//! The service harness: an `AuthService` on a manual clock with a recording mailer and audit
//! sink, and helpers to create users on it.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use assimetria_auth::audit::{AuditEvent, AuditSink};
use assimetria_auth::clock::ManualClock;
use assimetria_auth::mail::{Mail, Mailer};
use assimetria_auth::rbac::Role;
use assimetria_auth::secret::Password;
use assimetria_auth::service::Principal;
use assimetria_auth::store::Store;
use assimetria_auth::store::memory::MemoryStore;
use assimetria_auth::{AuthConfig, AuthService, Error, MasterKey};
use async_trait::async_trait;

pub const T0: i64 = 1_800_000_000;

/// Records every mail (with its token, as a real mail would carry it).
#[derive(Debug, Default)]
pub struct RecordingMailer {
    pub sent: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: Mail) -> Result<(), Error> {
        self.sent
            .lock()
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

pub async fn harness_with(mut config: AuthConfig, store: Arc<dyn Store>) -> Harness {
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

impl Harness {
    /// Creates a user with `role` and returns its principal from a fresh login.
    pub async fn user(&self, email: &str, role: Role) -> (Principal, String) {
        self.service
            .create_user(email, &pw("correct horse battery"), role)
            .await
            .unwrap();
        let out = self
            .service
            .login(email, &pw("correct horse battery"), None)
            .await
            .unwrap();
        let token = out.access_token.expose().to_owned();
        (self.service.authenticate(&token).await.unwrap(), token)
    }
}
