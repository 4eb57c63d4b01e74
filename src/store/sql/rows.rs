//! Reading rows back into records, the same code for both databases.

use std::str::FromStr;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::api_key::Environment;
use crate::error::{CorruptData, StoreError};
use crate::rbac::Role;
use crate::secret::TokenHash;
use crate::store::{
    ApiKeyRecord, ApiKeyWithCreator, RefreshRecord, Revocation, Session, StoreResult, StoredKey,
    User,
};
use crate::token::KeyAlgorithm;

/// Typed column access by name, for any row whose database decodes the crate's five column types
/// (`i64`, text, bytes, booleans, and the nullable forms of the first two).
pub(super) trait SqlRow {
    /// A non-null integer.
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    /// A nullable integer.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    /// Non-null text.
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    /// Nullable text.
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// Non-null bytes.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
    /// A non-null boolean (SQLite: an `INTEGER` 0 or 1; PostgreSQL: a `BOOLEAN`).
    fn boolean(&self, column: &str) -> Result<bool, sqlx::Error>;
}

impl<R> SqlRow for R
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(column)
    }

    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }

    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
        self.try_get(column)
    }

    fn boolean(&self, column: &str) -> Result<bool, sqlx::Error> {
        self.try_get(column)
    }
}

fn hash(bytes: Vec<u8>) -> StoreResult<TokenHash> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenHash::from_bytes)
        .map_err(|_| StoreError::Corrupt(CorruptData::TokenHash))
}

fn role(text: &str) -> StoreResult<Role> {
    Role::from_str(text).map_err(|_| StoreError::Corrupt(CorruptData::Role))
}

fn environment(text: &str) -> StoreResult<Environment> {
    Environment::from_str(text).map_err(|_| StoreError::Corrupt(CorruptData::Environment))
}

fn algorithm(text: &str) -> StoreResult<KeyAlgorithm> {
    KeyAlgorithm::from_name(text).ok_or(StoreError::Corrupt(CorruptData::KeyAlgorithm))
}

/// Columns of `auth_users`, in the order [`user`] reads them.
macro_rules! user_columns {
    () => {
        "id, email, password_hash, role, org, created_at, email_verified"
    };
}

/// Columns of `auth_sessions`, in the order [`session`] reads them.
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, revoked_at, user_agent, ip"
    };
}

/// Columns of `auth_refresh_tokens`.
macro_rules! refresh_columns {
    () => {
        "hash, session_id, user_id, issued_at, expires_at, spent_at"
    };
}

/// Columns of `auth_api_keys`.
macro_rules! api_key_columns {
    () => {
        "id, name, hash, prefix, environment, role, org, created_by, created_at, last_used_at, \
         revoked_at"
    };
}

/// Columns of `auth_api_keys` under the alias `k` (beside a joined table whose column names
/// would clash), named as [`api_key`] reads them.
macro_rules! api_key_columns_of_k {
    () => {
        "k.id AS id, k.name AS name, k.hash AS hash, k.prefix AS prefix, \
         k.environment AS environment, k.role AS role, k.org AS org, k.created_by AS created_by, \
         k.created_at AS created_at, k.last_used_at AS last_used_at, k.revoked_at AS revoked_at"
    };
}

/// Columns of `auth_signing_keys`.
macro_rules! signing_key_columns {
    () => {
        "kid, algorithm, material, created_at"
    };
}

pub(super) fn user(r: &impl SqlRow) -> StoreResult<User> {
    Ok(User {
        id: r.int("id")?,
        email: r.text("email")?,
        password_hash: r.text("password_hash")?,
        role: role(&r.text("role")?)?,
        org: r.opt_text("org")?,
        created_at: r.int("created_at")?,
        email_verified: r.boolean("email_verified")?,
    })
}

pub(super) fn session(r: &impl SqlRow) -> StoreResult<Session> {
    Ok(Session {
        id: r.text("id")?,
        user_id: r.int("user_id")?,
        created_at: r.int("created_at")?,
        last_used_at: r.int("last_used_at")?,
        revoked_at: r.opt_int("revoked_at")?,
        user_agent: r.opt_text("user_agent")?,
        ip: r.opt_text("ip")?,
    })
}

pub(super) fn refresh(r: &impl SqlRow) -> StoreResult<RefreshRecord> {
    Ok(RefreshRecord {
        hash: hash(r.bytes("hash")?)?,
        session_id: r.text("session_id")?,
        user_id: r.int("user_id")?,
        issued_at: r.int("issued_at")?,
        expires_at: r.int("expires_at")?,
        spent_at: r.opt_int("spent_at")?,
    })
}

pub(super) fn api_key(r: &impl SqlRow) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.int("id")?,
        name: r.text("name")?,
        hash: hash(r.bytes("hash")?)?,
        prefix: r.text("prefix")?,
        environment: environment(&r.text("environment")?)?,
        role: role(&r.text("role")?)?,
        org: r.opt_text("org")?,
        created_by: r.int("created_by")?,
        created_at: r.int("created_at")?,
        last_used_at: r.opt_int("last_used_at")?,
        revoked_at: r.opt_int("revoked_at")?,
    })
}

/// A key (`api_key_columns_of_k!`) and its creator's role as `creator_role` (NULL: no creator).
pub(super) fn api_key_with_creator(r: &impl SqlRow) -> StoreResult<ApiKeyWithCreator> {
    let creator_role = r
        .opt_text("creator_role")?
        .as_deref()
        .map(role)
        .transpose()?;
    Ok(ApiKeyWithCreator::new(api_key(r)?, creator_role))
}

pub(super) fn revocation(r: &impl SqlRow) -> StoreResult<Revocation> {
    Ok(Revocation {
        cursor: r.int("id")?,
        session_id: r.text("session_id")?,
        until: r.int("refused_until")?,
    })
}

pub(super) fn signing_key(r: &impl SqlRow) -> StoreResult<StoredKey> {
    Ok(StoredKey {
        kid: r.text("kid")?,
        algorithm: algorithm(&r.text("algorithm")?)?,
        material: r.bytes("material")?,
        created_at: r.int("created_at")?,
    })
}
