//! Password hashing: argon2id on a few dedicated workers that reuse their memory.
//!
//! * Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$…`) at no less than OWASP's
//!   minimum. [`PasswordHasher::needs_rehash`] tells when a stored hash was made with other
//!   parameters, so the service upgrades it at the next successful login (with a compare-and-set
//!   write, see [`UserStore::replace_password_hash`](crate::store::UserStore::replace_password_hash)).
//! * Every computation runs on one of `hash_concurrency` dedicated threads, never on an async
//!   executor thread. Each worker allocates its argon2 memory (`m_cost` KiB, ~19 MiB by default)
//!   once and reuses it for every job, so a flood of logins costs at most
//!   `hash_concurrency × m_cost` of argon2 memory for the life of the process: nothing per
//!   request allocates it (a fresh 19 MiB buffer per hash, freed on whichever thread ran it, is
//!   what the allocator keeps per thread). Up to `hash_queue` more jobs wait; beyond that a caller
//!   gets [`Error::Overloaded`] at once.
//! * A caller that gives up (a dropped request) cannot free its slot early: the job, and its
//!   admission, belong to the worker until the computation ends.
//! * [`PasswordHasher::verify_dummy`] does the same work as a real verification, for logins of
//!   unknown users: the answer's timing does not tell whether the email exists.
//! * Imported users may bring the hash another system stored ([`PasswordInput::Hash`]): bcrypt,
//!   scrypt and PBKDF2-SHA256 besides argon2, checked at import and verified on the same workers,
//!   then replaced by argon2id at the next login (see [`legacy`] for the formats and bounds).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::config::{Argon2Params, PasswordPolicy};
use crate::error::{ConfigError, Error, InternalError, InternalKind, ValidationError};
use crate::secret::{Password, random_bytes};

mod legacy;
mod workers;

use legacy::{MAX_STORED_LEN, Refused, Scheme};
use workers::{Job, Stats, Workspace, spawn_workers};

/// A salt used only by [`PasswordHasher::verify_dummy`]; its output is thrown away.
const DUMMY_SALT: &[u8; 16] = b"assimetria-dummy";

/// Hashes and verifies passwords. Cheap to clone (shares its workers and limits); the workers
/// stop when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct PasswordHasher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    params: Params,
    policy: PasswordPolicy,
    /// Slots for jobs running or waiting; `try_acquire` failing means "overloaded". A permit
    /// travels with its job and is released by the worker when the computation ends.
    admitted: Arc<Semaphore>,
    jobs: Mutex<mpsc::Sender<Job>>,
    stats: Arc<Stats>,
}

/// A user's password as an import brings it: in plaintext (hashed here with argon2id) or as
/// the hash another system stored.
#[non_exhaustive]
pub enum PasswordInput {
    /// The plaintext password: checked against the password policy and hashed with argon2id.
    Plain(Password),
    /// The hash the previous system stored, kept as it is and verified at login, then replaced
    /// by an argon2id hash at the first successful login. Accepted, with costs in bounds:
    ///
    /// * PHC argon2id, argon2i or argon2d: `$argon2id$v=19$m=…,t=…,p=…$salt$hash`;
    /// * bcrypt `$2a$`, `$2b$` or `$2y$` (not `$2x$`), cost 4 to 16. A password over 72 bytes
    ///   never verifies against a bcrypt hash (bcrypt ignores what follows the 72nd byte), so
    ///   a user whose old password was longer must reset it;
    /// * PHC scrypt: `$scrypt$ln=…,r=…,p=…$salt$hash`, at most 64 MiB;
    /// * PHC PBKDF2-HMAC-SHA256: `$pbkdf2-sha256$i=…,l=…$salt$hash`, 1 000 to 10 000 000
    ///   iterations.
    ///
    /// Anything else, or surrounding whitespace, is refused with
    /// [`ValidationError::InvalidPasswordHash`]. Its `Debug` does not print the hash, which can
    /// be cracked offline.
    Hash(String),
}

impl fmt::Debug for PasswordInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(password) => f.debug_tuple("Plain").field(password).finish(),
            Self::Hash(_) => f.write_str("Hash([redacted])"),
        }
    }
}

impl PasswordHasher {
    /// A hasher with the given costs, policy and limits: `concurrency` worker threads (each
    /// keeping `memory_kib` of argon2 memory once used) and `queue` more waiting jobs.
    pub(crate) fn new(
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
        .map_err(|_| Error::Config(ConfigError::InvalidArgon2Params))?;
        let concurrency = concurrency.max(1);
        let stats = Arc::new(Stats::default());
        let jobs = spawn_workers(concurrency, params.block_count(), &stats)?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                policy,
                admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))),
                jobs: Mutex::new(jobs),
                stats,
            }),
        })
    }

    /// A hasher configured from an [`AuthConfig`](crate::AuthConfig).
    pub(crate) fn from_config(config: &crate::AuthConfig) -> Result<Self, Error> {
        Self::new(
            config.argon2,
            config.password_policy,
            config.hash_concurrency,
            config.hash_queue,
        )
    }

    /// Checks a new password against the policy: [`Error::Validation`] if it is too short or too long.
    pub(crate) fn check_policy(&self, password: &Password) -> Result<(), Error> {
        let p = password.expose();
        if p.len() > self.inner.policy.max_bytes {
            return Err(Error::Validation(ValidationError::PasswordTooLong));
        }
        if p.chars().count() < self.inner.policy.min_chars {
            return Err(Error::Validation(ValidationError::PasswordTooShort {
                min: self.inner.policy.min_chars,
            }));
        }
        Ok(())
    }

    /// Hashes a new password (after [`check_policy`](Self::check_policy)) to a PHC string.
    pub(crate) async fn hash(&self, password: &Password) -> Result<String, Error> {
        self.check_policy(password)?;
        self.rehash(password).await
    }

    /// Hashes a password that just verified against its stored hash, to upgrade that hash: no
    /// policy check, since the password is the user's current one (an imported user's may be
    /// shorter than today's minimum), and its length was bounded by the verification.
    pub(crate) async fn rehash(&self, password: &Password) -> Result<String, Error> {
        if password.expose().len() > self.inner.policy.max_bytes {
            return Err(Error::Validation(ValidationError::PasswordTooLong));
        }
        let salt = random_bytes::<16>()?;
        let pw = password.expose().as_bytes().to_vec();
        let params = self.inner.params.clone();
        self.run(move |ws| {
            let failed = || Error::Internal(InternalError::new(InternalKind::Hashing));
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            ws.hash_into(
                Algorithm::Argon2id,
                Version::V0x13,
                params.clone(),
                &pw,
                &salt,
                &mut out,
            )
            .map_err(|_| failed())?;
            let phc = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(|_| failed())?,
                salt: Some(Salt::new(&salt).map_err(|_| failed())?),
                hash: Some(Output::new(&out).map_err(|_| failed())?),
            };
            Ok(phc.to_string())
        })
        .await?
    }

    /// Checks a hash brought by an import ([`PasswordInput::Hash`]): a supported scheme, well
    /// formed, with costs in bounds ([`legacy`]). Computes nothing. Returns the string to store,
    /// as given; [`ValidationError::InvalidPasswordHash`] for anything else, surrounding
    /// whitespace included.
    pub(crate) fn check_imported_hash(&self, hash: &str) -> Result<String, Error> {
        let invalid = || Error::Validation(ValidationError::InvalidPasswordHash);
        if hash.len() > MAX_STORED_LEN || hash.trim() != hash {
            return Err(invalid());
        }
        Scheme::parse(hash).map_err(|_| invalid())?;
        Ok(hash.to_owned())
    }

    /// Verifies `password` against a stored hash (argon2, or an imported bcrypt, scrypt or
    /// PBKDF2 hash, see [`legacy`]), on the workers. `Ok(false)` for a wrong password or a hash
    /// that does not parse; a password over the policy's maximum is refused without hashing; a
    /// stored hash whose costs are out of bounds is refused at once.
    pub(crate) async fn verify(&self, password: &Password, stored: &str) -> Result<bool, Error> {
        crate::observe::verification(self.check(password, stored)).await
    }

    async fn check(&self, password: &Password, stored: &str) -> Result<bool, Error> {
        if password.expose().len() > self.inner.policy.max_bytes {
            // Same work as a real check, so length alone tells nothing... but bounded.
            self.dummy(&Password::new("")).await?;
            return Ok(false);
        }
        let scheme = match Scheme::parse(stored) {
            Ok(scheme) => scheme,
            // A tampered or foreign row asking for absurd work: a wrong password, without it.
            Err(Refused::OutOfBounds) => return Ok(false),
            Err(Refused::Malformed) => {
                // Unparseable stored hash: still spend the time.
                self.dummy(password).await?;
                return Ok(false);
            }
        };
        // A hash of another scheme or other costs (an imported one, until its first login)
        // may be cheaper than this service's argon2id: the job also does the work of an
        // unknown user's login, so no imported account answers faster than a missing one.
        let pad = self.needs_rehash(stored).then(|| self.inner.params.clone());
        let pw = password.expose().as_bytes().to_vec();
        self.run(move |ws| {
            let matched = scheme.matches(ws, &pw);
            if let Some(params) = pad {
                dummy_work(ws, params, &pw);
            }
            matched
        })
        .await
    }

    /// Does the work of one verification and always fails: for logins of unknown users and
    /// forgot-password requests for unknown emails.
    pub(crate) async fn verify_dummy(&self, password: &Password) -> Result<(), Error> {
        crate::observe::verification(self.dummy(password)).await
    }

    async fn dummy(&self, password: &Password) -> Result<(), Error> {
        let len = password.expose().len().min(self.inner.policy.max_bytes);
        let pw = password.expose().as_bytes()[..len].to_vec();
        let params = self.inner.params.clone();
        self.run(move |ws| dummy_work(ws, params, &pw)).await
    }

    /// Whether `phc` was made with other parameters (or another algorithm) than the configured
    /// ones: always for an imported bcrypt, scrypt or PBKDF2 hash.
    pub(crate) fn needs_rehash(&self, phc: &str) -> bool {
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
    pub(crate) fn computations(&self) -> u64 {
        self.inner.stats.computations.load(Ordering::SeqCst)
    }

    /// How many argon2 computations ran, those inside legacy verifications included.
    pub(crate) fn argon2_runs(&self) -> u64 {
        self.inner.stats.argon2_runs.load(Ordering::SeqCst)
    }

    /// The most computations that ever ran at once.
    #[cfg(test)]
    pub(crate) fn peak_concurrency(&self) -> usize {
        self.inner.stats.peak.load(Ordering::SeqCst)
    }

    /// How many times a worker allocated its argon2 memory: at most once per worker for the
    /// configured cost, however many passwords it hashes.
    #[cfg(test)]
    pub(crate) fn memory_allocations(&self) -> u64 {
        self.inner.stats.allocations.load(Ordering::SeqCst)
    }

    /// Admits the job (or refuses it when the queue is full) and hands it to a worker.
    async fn run<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Workspace) -> T + Send + 'static,
    {
        let admitted: OwnedSemaphorePermit = Arc::clone(&self.inner.admitted)
            .try_acquire_owned()
            .map_err(|_| Error::Overloaded)?;
        let (reply, answer) = oneshot::channel();
        let stats = Arc::clone(&self.inner.stats);
        let queued = crate::observe::Queued::enter();
        let job: Job = Box::new(move |ws: &mut Workspace| {
            queued.started();
            // Held until the computation ends, even if the caller was cancelled meanwhile.
            let _admitted = admitted;
            let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            stats.peak.fetch_max(now, Ordering::SeqCst);
            stats.computations.fetch_add(1, Ordering::SeqCst);
            let out = job(ws);
            stats.in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = reply.send(out);
        });
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| Error::Internal(InternalError::new(InternalKind::Hashing)))?;
        answer
            .await
            .map_err(|_| Error::Internal(InternalError::new(InternalKind::Hashing)))
    }
}

/// The argon2id work of one verification at `params`, its output thrown away.
fn dummy_work(ws: &mut Workspace, params: Params, pw: &[u8]) {
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let _ = ws.hash_into(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        pw,
        DUMMY_SALT,
        &mut out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::Argon2;

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn workers_reuse_their_memory() {
        let h = hasher(2, 64);
        let mut tasks = Vec::new();
        for i in 0..16 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                h.hash(&Password::new(format!("password-{i}"))).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(h.computations(), 16);
        assert!(
            (1..=2).contains(&h.memory_allocations()),
            "16 hashes on 2 workers allocated argon2 memory {} times",
            h.memory_allocations()
        );
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = hasher(1, 4);
        let ours = h.hash(&Password::new("correct horse")).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        // A hash made elsewhere (argon2i, other costs) verifies here, and wants a rehash.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(8192, 3, 1, None).unwrap(),
        );
        let theirs = argon2i
            .hash_password_with_salt(b"correct horse", b"saltsaltsaltsalt")
            .unwrap()
            .to_string();
        assert!(
            h.verify(&Password::new("correct horse"), &theirs)
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&Password::new("correct horsE"), &theirs)
                .await
                .unwrap()
        );
        assert!(h.needs_rehash(&theirs));
    }

    /// A stored hash whose cost asks for more memory than the cap is a wrong password, answered
    /// at once: the worker neither allocates it nor dies, and keeps serving.
    #[tokio::test]
    async fn an_absurd_stored_cost_fails_cleanly() {
        let h = hasher(1, 4);
        let phc = h.hash(&Password::new("correct horse")).await.unwrap();
        let absurd = phc.replace("m=19456", "m=4294967295");
        assert!(
            !h.verify(&Password::new("correct horse"), &absurd)
                .await
                .unwrap()
        );
        assert!(
            h.verify(&Password::new("correct horse"), &phc)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn dummy_verification_does_one_computation() {
        let h = hasher(1, 1);
        h.verify_dummy(&Password::new("anything")).await.unwrap();
        assert_eq!(h.computations(), 1);
    }
}
