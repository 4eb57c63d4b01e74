//! Password hashing: argon2id, off the async executor, with a bound on hashes in flight.
//!
//! * Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$…`) at no less than OWASP's
//!   minimum. [`PasswordHasher::needs_rehash`] tells when a stored hash was made with other
//!   parameters, so the service upgrades it at the next successful login.
//! * Every computation runs on tokio's blocking pool ([`tokio::task::spawn_blocking`]), never on
//!   an executor thread. At most `hash_concurrency` run at once (each holds ~19 MiB); up to
//!   `hash_queue` more wait; beyond that a caller gets [`Error::Overloaded`] at once, so a flood
//!   of logins can neither exhaust memory nor queue without bound.
//! * [`PasswordHasher::verify_dummy`] does the same work as a real verification, for logins of
//!   unknown users: the answer's timing does not tell whether the email exists.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::{Argon2Params, PasswordPolicy};
use crate::error::Error;
use crate::secret::{Password, random_bytes};

/// A salt used only by [`PasswordHasher::verify_dummy`]; its output is thrown away.
const DUMMY_SALT: &[u8; 16] = b"assimetria-dummy";

/// Hashes and verifies passwords. Cheap to clone (shares its limits).
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    params: Params,
    policy: PasswordPolicy,
    /// Slots for hashes running now. Owned permits travel into the blocking job, so a caller that
    /// gives up (a dropped request) does not free a slot while its hash still runs.
    running: Arc<Semaphore>,
    /// Slots for hashes running or waiting; `try_acquire` failing means "overloaded".
    admitted: Arc<Semaphore>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    computations: AtomicU64,
}

impl PasswordHasher {
    /// A hasher with the given costs, policy and limits.
    pub fn new(
        params: Argon2Params,
        policy: PasswordPolicy,
        concurrency: usize,
        queue: usize,
    ) -> Result<Self, Error> {
        params.check()?;
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|_| Error::Config("invalid argon2 parameters"))?;
        let concurrency = concurrency.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                policy,
                running: Arc::new(Semaphore::new(concurrency)),
                admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))),
                in_flight: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                computations: AtomicU64::new(0),
            }),
        })
    }

    /// A hasher configured from an [`AuthConfig`](crate::AuthConfig).
    pub fn from_config(config: &crate::AuthConfig) -> Result<Self, Error> {
        Self::new(
            config.argon2,
            config.password_policy,
            config.hash_concurrency,
            config.hash_queue,
        )
    }

    /// Checks a new password against the policy: [`Error::Validation`] if it is too short or too long.
    pub fn check_policy(&self, password: &Password) -> Result<(), Error> {
        let p = password.expose();
        if p.len() > self.inner.policy.max_bytes {
            return Err(Error::Validation("password is too long"));
        }
        if p.chars().count() < self.inner.policy.min_chars {
            return Err(Error::Validation("password must be at least 8 characters"));
        }
        Ok(())
    }

    /// Hashes a new password (after [`check_policy`](Self::check_policy)) to a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        self.check_policy(password)?;
        let salt = random_bytes::<16>()?;
        let pw = password.expose().as_bytes().to_vec();
        self.run(move |argon| {
            argon
                .hash_password_with_salt(&pw, &salt)
                .map(|h| h.to_string())
                .map_err(|_| Error::Config("argon2 hashing failed"))
        })
        .await?
    }

    /// Verifies `password` against a stored PHC string. `Ok(false)` for a wrong password or a
    /// hash that does not parse; a password over the policy's maximum is refused without hashing.
    pub async fn verify(&self, password: &Password, phc: &str) -> Result<bool, Error> {
        if password.expose().len() > self.inner.policy.max_bytes {
            // Same work as a real check, so length alone tells nothing... but bounded.
            self.verify_dummy(&Password::new("")).await?;
            return Ok(false);
        }
        let pw = password.expose().as_bytes().to_vec();
        let phc = phc.to_owned();
        self.run(move |argon| match PasswordHash::new(&phc) {
            Ok(parsed) => argon.verify_password(&pw, &parsed).is_ok(),
            Err(_) => {
                // Unparseable stored hash: still spend the time.
                let mut out = [0u8; 32];
                let _ = argon.hash_password_into(&pw, DUMMY_SALT, &mut out);
                false
            }
        })
        .await
    }

    /// Does the work of one verification and always fails: for logins of unknown users and
    /// forgot-password requests for unknown emails.
    pub async fn verify_dummy(&self, password: &Password) -> Result<(), Error> {
        let len = password.expose().len().min(self.inner.policy.max_bytes);
        let pw = password.expose().as_bytes()[..len].to_vec();
        self.run(move |argon| {
            let mut out = [0u8; 32];
            let _ = argon.hash_password_into(&pw, DUMMY_SALT, &mut out);
        })
        .await
    }

    /// Whether `phc` was made with other parameters (or another algorithm) than the configured ones.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        if parsed.algorithm.as_str() != Algorithm::Argon2id.ident().as_str()
            || parsed.version != Some(Version::V0x13.into())
        {
            return true;
        }
        match Params::try_from(&parsed) {
            Ok(p) => {
                p.m_cost() != self.inner.params.m_cost()
                    || p.t_cost() != self.inner.params.t_cost()
                    || p.p_cost() != self.inner.params.p_cost()
            }
            Err(_) => true,
        }
    }

    /// How many argon2 computations this hasher has run (hash, verify and dummy alike).
    pub fn computations(&self) -> u64 {
        self.inner.computations.load(Ordering::SeqCst)
    }

    /// The most computations that ever ran at once.
    pub fn peak_concurrency(&self) -> usize {
        self.inner.peak.load(Ordering::SeqCst)
    }

    /// Admits the job (or refuses it when the queue is full), waits for a running slot, and runs
    /// it on the blocking pool.
    async fn run<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2<'static>) -> T + Send + 'static,
    {
        let admitted = Arc::clone(&self.inner.admitted)
            .try_acquire_owned()
            .map_err(|_| Error::Overloaded)?;
        let running = Arc::clone(&self.inner.running)
            .acquire_owned()
            .await
            .map_err(|_| Error::Overloaded)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // Held until the computation ends, even if the caller was cancelled meanwhile.
            let _permits = (admitted, running);
            let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            inner.peak.fetch_max(now, Ordering::SeqCst);
            inner.computations.fetch_add(1, Ordering::SeqCst);
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, inner.params.clone());
            let out = job(&argon);
            inner.in_flight.fetch_sub(1, Ordering::SeqCst);
            out
        })
        .await
        .map_err(Error::Task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(concurrency: usize, queue: usize) -> PasswordHasher {
        PasswordHasher::new(
            Argon2Params::default(),
            PasswordPolicy::default(),
            concurrency,
            queue,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn round_trip_and_wrong_password() {
        let h = hasher(2, 8);
        let phc = h.hash(&Password::new("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            h.verify(&Password::new("correct horse"), &phc)
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&Password::new("correct horsE"), &phc)
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&Password::new("x"), "not a phc string")
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn needs_rehash_flips_when_parameters_change() {
        let h = hasher(2, 8);
        let phc = h.hash(&Password::new("correct horse")).await.unwrap();
        assert!(!h.needs_rehash(&phc));
        let stronger = PasswordHasher::new(
            Argon2Params {
                memory_kib: 19_456 * 2,
                iterations: 2,
                parallelism: 1,
            },
            PasswordPolicy::default(),
            1,
            1,
        )
        .unwrap();
        assert!(stronger.needs_rehash(&phc));
        assert!(h.needs_rehash("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
        assert!(h.needs_rehash("garbage"));
        // The old hash still verifies under the new parameters (they are read from the PHC).
        assert!(
            stronger
                .verify(&Password::new("correct horse"), &phc)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn policy_bounds() {
        let h = hasher(1, 1);
        assert!(matches!(
            h.hash(&Password::new("short")).await,
            Err(Error::Validation(_))
        ));
        let huge = Password::new("a".repeat(1025));
        assert!(matches!(h.hash(&huge).await, Err(Error::Validation(_))));
        // Eight characters, not eight bytes: "ééééééé" is 7 characters.
        assert!(h.check_policy(&Password::new("ééééééé")).is_err());
        assert!(h.check_policy(&Password::new("éééééééé")).is_ok());
        // A huge password at login is refused with the work of one normal verification.
        let before = h.computations();
        assert!(!h.verify(&huge, "$argon2id$whatever").await.unwrap());
        assert_eq!(h.computations(), before + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrency_bound_holds() {
        let h = hasher(2, 64);
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                h.verify_dummy(&Password::new("password123")).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(h.computations(), 12);
        assert!(h.peak_concurrency() <= 2, "peak {}", h.peak_concurrency());
        assert!(h.peak_concurrency() >= 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_beyond_the_queue_is_refused() {
        let h = hasher(1, 2);
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                h.verify_dummy(&Password::new("password123")).await
            }));
        }
        let mut overloaded = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Err(Error::Overloaded)) {
                overloaded += 1;
            }
        }
        assert!(overloaded >= 1, "no caller was refused");
        assert!(h.computations() <= 10 - overloaded as u64);
        assert_eq!(h.peak_concurrency(), 1);
    }

    /// A caller that gives up (a dropped request future) must not free its slot while its hash
    /// still runs on the blocking pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cancelled_callers_keep_their_slot_until_the_hash_ends() {
        let h = hasher(1, 64);
        for _round in 0..3 {
            let first: Vec<_> = (0..4)
                .map(|_| {
                    let h = h.clone();
                    tokio::spawn(async move { h.verify_dummy(&Password::new("password123")).await })
                })
                .collect();
            let started = h.computations();
            while h.computations() == started {
                tokio::task::yield_now().await;
            }
            for t in &first {
                t.abort();
            }
            let second: Vec<_> = (0..4)
                .map(|_| {
                    let h = h.clone();
                    tokio::spawn(async move { h.verify_dummy(&Password::new("password123")).await })
                })
                .collect();
            for t in second {
                t.await.unwrap().unwrap();
            }
        }
        assert_eq!(
            h.peak_concurrency(),
            1,
            "a cancelled caller's hash overlapped another"
        );
    }

    #[tokio::test]
    async fn dummy_verification_does_one_computation() {
        let h = hasher(1, 1);
        h.verify_dummy(&Password::new("anything")).await.unwrap();
        assert_eq!(h.computations(), 1);
    }
}
