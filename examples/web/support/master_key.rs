//! The master keys the signing keys in the database are sealed under: from
//! `ASSIMETRIA_AUTH_MASTER_KEY`, else (SQLite only) from a key file beside the database.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use assimetria_auth::{MasterKey, SqlStore};

use crate::BoxError;

/// The master keys for `database_url`: `configured` (the parsed `ASSIMETRIA_AUTH_MASTER_KEY`) if
/// given; else on SQLite the key in the file `<database>.master-key`, created on first start
/// ([`key_file`]); an in-memory SQLite database gets none (the service then seals under a key
/// that dies with the process, as the database does). PostgreSQL without a configured key is
/// refused: a key file on one machine cannot serve a fleet, and a database whose keys sit beside
/// it in plain form would be no safer than before sealing.
pub fn master_keys(
    configured: Option<&[MasterKey]>,
    database_url: &str,
) -> Result<Vec<MasterKey>, BoxError> {
    if let Some(keys) = configured {
        return Ok(keys.to_vec());
    }
    if !database_url.starts_with("sqlite:") {
        return Err(
            "ASSIMETRIA_AUTH_MASTER_KEY is required with a PostgreSQL database: the \
                    signing keys stored there are sealed under it (generate one with \
                    `openssl rand -base64 32`, give every instance the same value)"
                .into(),
        );
    }
    if database_url.contains(":memory:") || database_url.contains("mode=memory") {
        return Ok(Vec::new());
    }
    Ok(vec![key_file(&key_file_path(database_url)?)?])
}

/// Where the key file of a SQLite database lives: beside it, `<database>.master-key`.
pub fn key_file_path(database_url: &str) -> Result<PathBuf, BoxError> {
    let options = SqlStore::sqlite_connect_options(database_url)?;
    let mut path = options.get_filename().as_os_str().to_owned();
    path.push(".master-key");
    Ok(path.into())
}

/// Reads the master key file, or creates it (mode 0600) if it does not exist. Creation is atomic
/// (written aside, then hard-linked into place), so two servers starting at once on a new
/// database end up with one key.
pub fn key_file(path: &Path) -> Result<MasterKey, BoxError> {
    let read = |path: &Path| -> Result<MasterKey, BoxError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the master key file {}: {e}", path.display()))?;
        MasterKey::from_base64(&text)
            .map_err(|e| format!("the master key file {}: {e}", path.display()).into())
    };
    if path.exists() {
        let key = read(path)?;
        tracing::info!(path = %path.display(), key_id = %key.id(), "master key read from its file");
        return Ok(key);
    }
    let key = MasterKey::generate()?;
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".{}.tmp", std::process::id()));
    let aside = PathBuf::from(aside);
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&aside)?;
        file.write_all(format!("{}\n", key.expose_base64()).as_bytes())?;
        file.sync_all()?;
    }
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                key_id = %key.id(),
                "created a master key file (mode 0600) beside the database: the signing keys in \
                 the database are sealed under it. Keep it, and back it up apart from the \
                 database; set ASSIMETRIA_AUTH_MASTER_KEY to keep it elsewhere"
            );
            Ok(key)
        }
        // Another server created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(format!("creating the master key file {}: {e}", path.display()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "assimetria-auth-examples-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn master_key_file_is_created_once_with_owner_only_access() {
        let dir = TempDir::new("master-key");
        let path = dir.0.join("auth.db.master-key");
        let first = key_file(&path).unwrap();
        let again = key_file(&path).unwrap();
        assert_eq!(first, again, "the same key at every start");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let url = format!("sqlite://{}?mode=rwc", dir.0.join("auth.db").display());
        assert_eq!(key_file_path(&url).unwrap(), path);
        assert_eq!(master_keys(None, &url).unwrap(), vec![first]);
        assert!(master_keys(None, "postgres://u@localhost/db").is_err());
        assert!(master_keys(None, "sqlite::memory:").unwrap().is_empty());
        let configured = [MasterKey::generate().unwrap()];
        let keys = master_keys(Some(&configured), "postgres://u@localhost/db").unwrap();
        assert_eq!(keys, configured);
    }
}
