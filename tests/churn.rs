//! Churn: many rounds of the account flows (register, verify, login, refresh, logout, forgot and
//! reset, removal) with the clock moving an hour a round and a purge
//! ([`AuthService::purge_expired`]) after each, on every store: the memory store, an SQLite file,
//! and a PostgreSQL schema of the test's own (from `TEST_DATABASE_URL`; see `tests/stores/mod.rs`
//! for what happens without it).
//!
//! Every table's row count stays under a bound that does not grow with the number of rounds (the
//! rows of about the last two rounds), where without the purge it grows with every round; and
//! at the end reuse detection and revocation still work: a reused refresh token revokes its
//! family, and a logged-out access token is refused by a second instance, whose revocation
//! cursor was taken before the purges deleted the entries below it.

mod harness;
#[macro_use]
mod stores;

use std::sync::Arc;
use std::time::Duration;

use assimetria_auth::clock::ManualClock;
use assimetria_auth::config::CleanupConfig;
use assimetria_auth::rbac::seed;
use assimetria_auth::store::{Expired, Store};
use assimetria_auth::{AuthConfig, AuthService, Error, ResetToken, VerificationToken};

use harness::{PASSWORD, RecordingMailer, T0, pw, test_master_key};
use stores::Db;

per_store!(churn_keeps_every_table_bounded);

/// Rounds of churn; the bounds below must hold after each of them.
const ROUNDS: usize = 12;
/// How far the clock moves each round: longer than a refresh token lives.
const ROUND: Duration = Duration::from_secs(3600);

/// Short lifetimes, so that each round's rows expire within the next round or two.
fn config() -> AuthConfig {
    let mut config = AuthConfig::builder()
        .rate_limiting(false)
        .access_ttl(Duration::from_secs(15 * 60))
        .refresh_ttl(Duration::from_secs(3600))
        .reset_ttl(Duration::from_secs(30 * 60))
        .verification_ttl(Duration::from_secs(3600))
        .master_key(test_master_key())
        // The test purges by hand, between rounds.
        .cleanup(CleanupConfig {
            janitor: false,
            ..CleanupConfig::default()
        })
        .build()
        .unwrap();
    config.email_verification = true;
    config
}

async fn service(
    store: Arc<dyn Store>,
    clock: &Arc<ManualClock>,
) -> (AuthService, Arc<RecordingMailer>) {
    let mailer = Arc::new(RecordingMailer::default());
    let service = AuthService::builder(config(), store)
        .clock(clock.clone())
        .mailer(mailer.clone())
        .background_revocation_sync(false)
        .build()
        .await
        .unwrap();
    (service, mailer)
}

/// Every table's row count: users, then each kind of [`Expired`] in [`Expired::ALL`] order.
async fn counts(store: &Arc<dyn Store>) -> [u64; 6] {
    let mut rows = [
        store.list_users(None).await.unwrap().len() as u64,
        0,
        0,
        0,
        0,
        0,
    ];
    for (slot, kind) in rows[1..].iter_mut().zip(Expired::ALL) {
        *slot = store.count_rows(kind).await.unwrap();
    }
    rows
}

/// The most rows each table may hold after a round's purge: about what one round creates (per
/// round: 1 registered user, kept two rounds; 4 sessions with 8 refresh tokens; 5 revocation
/// entries; 1 reset and 1 verification token), where what is left after a purge is the live
/// sessions and their tokens, this round's revocation entries, and a token not spent yet. Without
/// a purge every count but the users' grows past it within two rounds.
const BOUND: [u64; 6] = [4, 8, 8, 1, 2, 8];
const TABLES: [&str; 6] = [
    "users",
    "refresh_tokens",
    "sessions",
    "reset_tokens",
    "verification_tokens",
    "revocations",
];

async fn churn_keeps_every_table_bounded(db: Db) {
    let store = db.store().await;
    let clock = Arc::new(ManualClock::new(T0));
    let (auth, mailer) = service(Arc::clone(&store), &clock).await;
    // A second instance over the same database (for SQL stores, a pool of its own), synced every
    // round: its revocation cursor stays ahead of the entries the purges delete.
    let (other, _) = service(db.store().await, &clock).await;

    let steady = "steady@example.com";
    auth.register(steady, &pw(PASSWORD), None).await.unwrap();
    let admin_email = "admin@example.com";
    auth.create_user(admin_email, &pw(PASSWORD), seed::ADMIN)
        .await
        .unwrap();
    let mut registered: Vec<i64> = Vec::new();
    let (mut resets, mut verifications) = (0, 1);
    let (mut most, mut most_before) = ([0u64; 6], [0u64; 6]);

    for round in 0..ROUNDS {
        clock.advance(ROUND);
        // A new account, verified through its mail.
        let email = format!("user{round}@example.com");
        let login = auth.register(&email, &pw(PASSWORD), None).await.unwrap();
        registered.push(login.user.id);
        verifications += 1;
        let (_, token) = mailer.wait_for_verification(verifications).await;
        auth.verify_email(&VerificationToken::new(token), None)
            .await
            .unwrap();

        // The steady user: a login refreshed three times, then a logout; a reset; a login left
        // to expire.
        let login = auth.login(steady, &pw(PASSWORD), None).await.unwrap();
        let mut refresh = login.refresh_token;
        for _ in 0..3 {
            clock.advance(Duration::from_secs(60));
            refresh = auth.refresh(&refresh).await.unwrap().refresh_token;
        }
        let access = auth.refresh(&refresh).await.unwrap().access_token;
        let principal = auth.authenticate(access.expose()).await.unwrap();
        auth.logout(&principal).await.unwrap();
        auth.forgot_password(steady, None).await.unwrap();
        resets += 1;
        let (_, token) = mailer.wait_for(resets).await;
        auth.reset_password(&ResetToken::new(token), &pw(PASSWORD))
            .await
            .unwrap();
        auth.login(steady, &pw(PASSWORD), None).await.unwrap();

        // The admin removes the account registered two rounds ago.
        let admin = auth.login(admin_email, &pw(PASSWORD), None).await.unwrap();
        let admin = auth
            .authenticate(admin.access_token.expose())
            .await
            .unwrap();
        if round >= 2 {
            auth.remove_user(&admin, registered[round - 2])
                .await
                .unwrap();
        }

        other.sync_revocations().await.unwrap();
        let before = counts(&store).await;
        let report = auth.purge_expired().await.unwrap();
        let rows = counts(&store).await;
        for (i, table) in TABLES.iter().enumerate() {
            assert!(
                rows[i] <= BOUND[i],
                "round {round}: {table} holds {} rows, more than {} (purge: {report:?})",
                rows[i],
                BOUND[i]
            );
            most[i] = most[i].max(rows[i]);
            most_before[i] = most_before[i].max(before[i]);
        }
        if round >= 2 {
            assert!(
                report.total() > 0,
                "round {round}: the purge deleted nothing"
            );
        }
    }
    // For the record (the notes quote these): the most rows each table held before and after a
    // round's purge.
    let rows = |counts: [u64; 6]| -> String {
        let each = TABLES.iter().zip(counts).map(|(t, n)| format!("{t}={n}"));
        each.collect::<Vec<_>>().join(" ")
    };
    harness_note(&format!(
        "churn, {ROUNDS} rounds: most rows before a purge: {}; after: {}",
        rows(most_before),
        rows(most)
    ));

    // Reuse detection: a spent token presented after the grace window revokes its family, even
    // after a purge.
    let login = auth.login(steady, &pw(PASSWORD), None).await.unwrap();
    let next = auth.refresh(&login.refresh_token).await.unwrap();
    clock.advance(Duration::from_secs(60));
    auth.purge_expired().await.unwrap();
    assert!(matches!(
        auth.refresh(&login.refresh_token).await,
        Err(Error::RefreshTokenReused)
    ));
    assert!(matches!(
        auth.refresh(&next.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));

    // Revocation: a logged-out access token is refused by the other instance once it syncs.
    let login = auth.login(steady, &pw(PASSWORD), None).await.unwrap();
    let access = login.access_token.expose().to_owned();
    assert!(other.authenticate(&access).await.is_ok());
    let principal = auth.authenticate(&access).await.unwrap();
    auth.logout(&principal).await.unwrap();
    auth.purge_expired().await.unwrap();
    other.sync_revocations().await.unwrap();
    assert!(
        other.authenticate(&access).await.is_err(),
        "the other instance's cursor, taken before the purges, still sees the new entry"
    );
}

/// Writes a line to the real stderr (the harness captures `eprintln!` of passing tests).
fn harness_note(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}
