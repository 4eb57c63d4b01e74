//! The store conformance suite (feature `test-util`): every contract of the
//! [storage traits](super) as a test case over `Arc<dyn Store>`, so that any store — the crate's
//! own or one a host writes — can prove it keeps them.
//!
//! The crate runs it against [`MemoryStore`](super::memory::MemoryStore) and `SqlStore` on SQLite
//! and PostgreSQL (`tests/store_conformance.rs`); `examples/custom_store.rs` runs it against a
//! store written from scratch.
//!
//! # Running it against your store
//!
//! Enable the feature for tests only, with tokio (`macros` and `rt-multi-thread`) beside it:
//!
//! ```toml
//! [dev-dependencies]
//! assimetria-auth = { version = "0.1", features = ["test-util"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! and hand [`store_conformance_tests!`](crate::store_conformance_tests) a factory that makes a
//! new, empty store:
//!
//! ```
//! # fn main() {}
//! #[cfg(test)]
//! mod conformance {
//!     use std::sync::Arc;
//!     use assimetria_auth::store::Store;
//!     # use assimetria_auth::store::memory::MemoryStore as MyStore;
//!
//!     assimetria_auth::store_conformance_tests!(|| async {
//!         Arc::new(MyStore::new()) as Arc<dyn Store>
//!     });
//! }
//! ```
//!
//! Each case is then a test of its own, named after the module you call the macro in and the
//! case: `conformance::consume_refresh_race`. A failure names the contract that broke.
//!
//! # The cases
//!
//! One module per kind of record ([`lifecycle`] holds the users' account-lifecycle cases: a
//! verified address, a signed-in password change), and one for the races, which run many
//! contenders at once (50 rounds of up to 64 tasks) and so are the slowest. A store that passes
//! [`races`] on a multi-threaded runtime keeps its atomicity promises within one process; a store
//! shared by several processes must keep them across processes too, which only its own tests can
//! show.
//!
//! Every case starts from an empty store, and uses timestamps around 1 700 000 000 (2023).

use crate::rbac::seed;
use std::future::Future;
use std::sync::Arc;

use crate::api_key::Environment;

use crate::secret::TokenHash;
use crate::store::{NewApiKey, NewUser, RefreshRecord, Session, Store, StoredKey};
use crate::token::KeyAlgorithm;

pub mod api_keys;
pub mod cleanup;
pub mod hostile;
pub mod keys;
pub mod lifecycle;
pub mod races;
pub mod reset_tokens;
pub mod revocations;
pub mod sessions;
pub mod users;
pub mod verification_tokens;

/// Runs every case of the suite against the stores a factory makes: expands to one
/// `#[tokio::test]` per case, in the module where it is called.
///
/// The factory is a closure without arguments returning a future of a [`Fixture`]: most simply
/// the store itself as an `Arc<dyn Store>`. It is called once per case and must make a **new,
/// empty** store each time (cases count what they find).
///
/// ```
/// # fn main() {}
/// #[cfg(test)]
/// mod memory {
///     use std::sync::Arc;
///     use assimetria_auth::store::Store;
///     use assimetria_auth::store::memory::MemoryStore;
///
///     assimetria_auth::store_conformance_tests!(|| async {
///         Arc::new(MemoryStore::new()) as Arc<dyn Store>
///     });
/// }
/// ```
///
/// The tests use `#[tokio::test(flavor = "multi_thread")]`, so the calling crate needs tokio
/// with the `macros` and `rt-multi-thread` features (a dev-dependency is enough), and this crate's
/// `test-util` feature. See the [suite's documentation](crate::store::conformance) for what the
/// cases check.
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
macro_rules! store_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::store_conformance_tests! { @cases $factory;
            users::users_create_and_look_up,
            users::users_duplicate_email_is_conflict,
            users::users_list_by_organization,
            users::users_compare_and_set_password_hash,
            users::users_update_ending_sessions,
            users::users_update_ends_only_live_sessions,
            users::users_delete_ending_sessions,
            lifecycle::users_email_verified_round_trips,
            lifecycle::users_reset_marks_the_address_verified,
            lifecycle::users_change_password_ending_sessions,
            sessions::sessions_create_once,
            sessions::consume_refresh_spends_once,
            sessions::consume_refresh_invalid_cases,
            sessions::insert_refresh_rules,
            sessions::revoke_session_once,
            sessions::sessions_of_user_lists_live_sessions_oldest_first,
            sessions::insert_refresh_moves_last_use_forward,
            api_keys::api_keys_lifecycle,
            api_keys::api_key_with_creator_reads_the_current_role,
            api_keys::touch_api_keys_in_a_batch,
            reset_tokens::reset_tokens_single_use_and_expiry,
            verification_tokens::verification_tokens_single_use_and_expiry,
            verification_tokens::verification_and_reset_tokens_are_apart,
            verification_tokens::verification_tokens_do_not_outlive_their_user,
            revocations::revocation_log,
            cleanup::cleanup_refresh_tokens_at_their_own_expiry,
            cleanup::cleanup_sessions_that_can_no_longer_be_refreshed,
            cleanup::cleanup_spent_and_expired_single_use_tokens,
            cleanup::cleanup_revocations_keep_cursors_monotonic,
            cleanup::cleanup_respects_the_limit,
            cleanup::cleanup_concurrent_purges_share_the_work,
            revocations::revocation_feed_announces_every_append,
            keys::signing_keys_insert_if_absent,
            keys::signing_keys_reseal_and_delete,
            keys::secrets_insert_if_absent_and_reseal,
            hostile::hostile_input_round_trips_or_fails_cleanly,
            races::users_concurrent_duplicate_email,
            races::users_upgrade_never_undoes_a_reset,
            races::users_change_password_never_undoes_a_reset,
            races::users_change_never_misses_a_session_that_read_the_old_user,
            races::users_delete_never_leaves_a_session_or_key_behind,
            races::consume_refresh_race,
            races::reset_token_race,
            races::reset_tokens_of_one_user_race,
            races::verification_token_race,
            races::revocation_log_concurrent_appends,
            races::revocation_poller_never_skips,
            races::signing_keys_concurrent_insert_agree,
            races::signing_keys_first_insert_agree,
        }
    };
    (@cases $factory:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::store::conformance::run(
                    $factory,
                    $crate::store::conformance::$module::$case,
                )
                .await;
            }
        )*
    };
}

/// What a factory hands to a case: the store under test, and whatever must live as long as the
/// case does.
///
/// * `Arc<dyn Store>`: the store alone.
/// * `(Arc<dyn Store>, guard)`: the store, and a value dropped only after the case (a temporary
///   directory, a database schema that drops itself).
/// * `Option<F>`: `None` when the case cannot run here (a database that is not configured); the
///   case then passes without running. Say why (on stderr) before returning `None`: a skip nobody
///   sees is a test nobody ran.
pub trait Fixture {
    /// The store under test, or `None` if this case does not run.
    fn store(&self) -> Option<Arc<dyn Store>>;
}

impl Fixture for Arc<dyn Store> {
    fn store(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::clone(self))
    }
}

impl<G> Fixture for (Arc<dyn Store>, G) {
    fn store(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::clone(&self.0))
    }
}

impl<F: Fixture> Fixture for Option<F> {
    fn store(&self) -> Option<Arc<dyn Store>> {
        self.as_ref().and_then(Fixture::store)
    }
}

/// Runs one case on a fixture from `factory`, then drops the fixture. What
/// [`store_conformance_tests!`](crate::store_conformance_tests) expands to; call it directly to
/// run a single case:
///
/// ```
/// use std::sync::Arc;
/// use assimetria_auth::store::Store;
/// use assimetria_auth::store::conformance::{run, sessions};
/// use assimetria_auth::store::memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let factory = || async { Arc::new(MemoryStore::new()) as Arc<dyn Store> };
/// run(factory, sessions::consume_refresh_spends_once).await;
/// # }
/// ```
pub async fn run<F, Fut, C, CaseFut>(factory: F, case: C)
where
    F: FnOnce() -> Fut,
    Fut: Future,
    Fut::Output: Fixture,
    C: FnOnce(Arc<dyn Store>) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    let fixture = factory().await;
    if let Some(store) = fixture.store() {
        case(store).await;
    }
    drop(fixture);
}

// ---------------------------------------------------------------------------------------------
// What the cases share

/// A moment to measure from.
const T0: i64 = 1_700_000_000;
/// How many times each race is run.
const TRIALS: usize = 50;
/// Contenders per race.
const CONTENDERS: usize = 64;

fn hash(label: &str) -> TokenHash {
    TokenHash::of(label)
}

/// A member of organization `acme`, created at T0.
fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${email}"),
        role: seed::MEMBER,
        org: Some("acme".to_owned()),
        created_at: T0,
        email_verified: false,
    }
}

/// Creates [`new_user`]`(email)`; its id.
async fn user(store: &Arc<dyn Store>, email: &str) -> i64 {
    store
        .create_user(new_user(email))
        .await
        .expect("create user")
        .id
}

/// A live session `sid` of `user_id` whose first refresh token is `first`, valid until T0 + 1000.
async fn session(store: &Arc<dyn Store>, sid: &str, user_id: i64, first: &str) {
    store
        .create_session(
            Session::new(sid.to_owned(), user_id, T0),
            RefreshRecord::new(hash(first), sid.to_owned(), user_id, T0, T0 + 1000),
        )
        .await
        .expect("create session");
}

/// The revocation log in force at `now`, as `(entry, until)` pairs in order.
async fn logged(store: &Arc<dyn Store>, now: i64) -> Vec<(String, i64)> {
    let log = store.revocations_since(0, now, 1000).await.unwrap();
    log.into_iter().map(|r| (r.session_id, r.until)).collect()
}

/// Whether session `sid` is live: a store adds a refresh token only to a live session (and adding
/// the same one again is a no-op), so this probe changes nothing that a case looks at (it is
/// issued at T0, so it moves no session's `last_used_at`: sessions start at T0 or later).
async fn is_live(store: &Arc<dyn Store>, sid: &str, user_id: i64) -> bool {
    let probe = RefreshRecord::new(
        hash(&format!("liveness probe {sid}")),
        sid.to_owned(),
        user_id,
        T0,
        T0 + 1000,
    );
    store.insert_refresh(probe).await.expect("insert_refresh")
}

/// Runs `call(store, i)` for each `i` in `0..n`, each on a task of its own so that they race;
/// their results in `i` order. A call that panics fails the case.
async fn at_once<T, F, Fut>(store: &Arc<dyn Store>, n: usize, call: F) -> Vec<T>
where
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| tokio::spawn(call(Arc::clone(store), i)))
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("a contender panicked"));
    }
    results
}

fn new_key(name: &str, org: Option<&str>, created_by: i64) -> NewApiKey {
    NewApiKey {
        name: name.to_owned(),
        hash: hash(&format!("key {name} {org:?}")),
        prefix: format!("osk_live_{name}"),
        environment: Environment::Live,
        role: seed::VIEWER,
        org: org.map(str::to_owned),
        created_by,
        created_at: T0,
    }
}

fn stored_key(kid: &str, material: &[u8], created_at: i64) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        algorithm: KeyAlgorithm::Hs256,
        material: material.to_vec(),
        created_at,
    }
}
