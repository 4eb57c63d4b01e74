//! [`RevocationFeed`] on PostgreSQL: `LISTEN` on a connection of its own for the notifications
//! that migration 6's triggers send when the revocation log (or the signing keys) change.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::store::{RevocationFeed, StoreResult};

/// The channel the triggers notify (`migrations/postgres/0006_revocation_notify.sql`).
const CHANNEL: &str = "assimetria_auth_revocations";

/// The feed connection's `application_name` when the store's connections have none; with one,
/// the feed's is that name followed by [`FEED_SUFFIX`].
pub(super) const FEED_APPLICATION_NAME: &str = "assimetria-auth revocation feed";

/// Appended (after a space) to the store's own `application_name`, so that an operator (or a
/// test) can tell the feed connection of one deployment from another's in `pg_stat_activity`.
pub(super) const FEED_SUFFIX: &str = "revocation feed";

/// How long opening (or restoring) the feed's connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema holding the table the store's queries reach through the `search_path`: the
/// triggers' payload, which tells this deployment's notifications from those of another schema.
const LOG_SCHEMA: &str = "SELECT n.nspname::text FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'auth_revocations'::regclass";

/// Listens for the store's notifications on one connection of its own (not the store's pool's:
/// a listening connection cannot serve queries in between). sqlx's [`PgListener`] restores a lost
/// connection, and `LISTEN` on it, before reporting the loss, which this feed turns into a
/// wake-up.
pub(super) struct PgRevocationFeed {
    listener: PgListener,
    schema: String,
}

impl PgRevocationFeed {
    /// Connects with `pool`'s settings (server, credentials, TLS, `search_path`) under the feed's
    /// `application_name`, and listens.
    pub(super) async fn open(pool: &PgPool) -> StoreResult<PgRevocationFeed> {
        let base = pool.connect_options();
        let name = match base.get_application_name() {
            Some(name) => format!("{name} {FEED_SUFFIX}"),
            None => FEED_APPLICATION_NAME.to_owned(),
        };
        let options = (*base).clone().application_name(&name);
        // A pool of one connection that never retires it: the listener uses it to reconnect.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await?;
        let mut listener = PgListener::connect_with(&own).await?;
        // The pool is the listener's own: nobody else closes it.
        listener.ignore_pool_close_event(true);
        let schema: String = sqlx::query_scalar(LOG_SCHEMA)
            .fetch_one(&mut listener)
            .await?;
        listener.listen(CHANNEL).await?;
        Ok(PgRevocationFeed { listener, schema })
    }
}

#[async_trait]
impl RevocationFeed for PgRevocationFeed {
    async fn changed(&mut self) -> StoreResult<()> {
        loop {
            match self.listener.try_recv().await? {
                // Another schema's log (another deployment sharing the database): not ours.
                Some(n) if n.payload() != self.schema => {}
                Some(_) => return Ok(()),
                // The connection was lost and is restored (sqlx reconnects and listens again
                // before saying so): whatever was announced in between is lost, so read the log.
                None => return Ok(()),
            }
        }
    }
}
