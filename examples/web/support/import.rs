//! The bulk importer behind `cargo run --example import -- users.jsonl`: one user per line, in
//! the shape of `POST /api/users`.

use std::collections::HashSet;
use std::sync::Arc;

use assimetria_auth::{AuthService, Email, Error, ImportOptions, ImportRecord};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _};
use tokio::task::JoinSet;

use crate::BoxError;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportCounts {
    /// Users created.
    pub imported: usize,
    /// Lines whose email was taken already, by an earlier run or an earlier line of the file (a
    /// second run of the same file skips every line).
    pub skipped: usize,
    /// Lines refused: not the JSON shape, or a value the service refuses (an invalid email,
    /// role or password hash, a weak password). Each is reported with its line number.
    pub rejected: usize,
    /// The rejected lines: (line number, why). The reason never holds the password or hash.
    pub errors: Vec<(usize, String)>,
}

/// Imports every non-blank line of `input` into `service`, running up to `parallel` imports at
/// once (a plaintext password costs an argon2 hash; a hash costs nothing here).
pub async fn import_lines(
    service: &AuthService,
    mut input: impl AsyncBufRead + Unpin,
    parallel: usize,
) -> Result<ImportCounts, BoxError> {
    let mut counts = ImportCounts::default();
    let mut running: JoinSet<Done> = JoinSet::new();
    // The emails of the imports running now (at most `parallel`).
    let mut in_flight = HashSet::new();
    let service = Arc::new(service.clone());
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        if input.read_line(&mut line).await? == 0 {
            break;
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut record: ImportRecord = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                // serde's message names the field and column, never the value.
                counts.reject(number, format!("not a user record: {}", e.classify_name()));
                continue;
            }
        };
        let email = match Email::parse(&record.email) {
            Ok(email) => email.as_str().to_owned(),
            Err(e) => {
                counts.reject(number, e.to_string());
                continue;
            }
        };
        // Lines run in parallel, except two of one email: the later waits for the earlier, so
        // the outcome is the one of importing the file line by line (the first line that
        // imports wins; the later ones are skipped as taken).
        while in_flight.contains(&email) || running.len() >= parallel.max(1) {
            let done = running.join_next().await.expect("a task is running")?;
            in_flight.remove(&done.email);
            counts.record(done);
        }
        in_flight.insert(email.clone());
        let service = Arc::clone(&service);
        running.spawn(async move {
            let outcome = async {
                let password = record.password_input()?;
                let role = record
                    .role
                    .take()
                    .unwrap_or_else(|| service.config().default_role.clone());
                let options = ImportOptions::default().email_verified(record.email_verified);
                service
                    .import_user_with(&record.email, password, role, options)
                    .await
                    .map(drop)
            };
            Done {
                line: number,
                email,
                outcome: outcome.await,
            }
        });
    }
    while let Some(done) = running.join_next().await {
        counts.record(done?);
    }
    counts.errors.sort();
    Ok(counts)
}

/// One finished import: its line, its (normalised) email, and how it went.
struct Done {
    line: usize,
    email: String,
    outcome: Result<(), Error>,
}

impl ImportCounts {
    fn record(&mut self, Done { line, outcome, .. }: Done) {
        match outcome {
            Ok(()) => self.imported += 1,
            Err(Error::EmailTaken) => self.skipped += 1,
            Err(e) if e.status() < 500 => self.reject(line, e.public_message().into_owned()),
            Err(e) => self.reject(line, format!("{e}: {:?}", std::error::Error::source(&e))),
        }
    }

    fn reject(&mut self, line: usize, why: String) {
        self.rejected += 1;
        self.errors.push((line, why));
    }
}

/// The name of a JSON error's kind, without its text (which may quote the line).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON"
            }
            serde_json::error::Category::Data => {
                "a field is missing or has the wrong type (email; password or password_hash; role?; email_verified?)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    /// An OpenBSD bcrypt test vector: the password `U*U` at cost 5.
    const BCRYPT: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_imports_once_and_reports_what_it_refused() {
        let dir = tempfile_dir();
        let url = format!("sqlite://{}/auth.db?mode=rwc", dir.display());
        let settings = Settings::from_vars(|name| match name {
            "ASSIMETRIA_AUTH_DATABASE_URL" => Some(url.clone()),
            _ => None,
        })
        .unwrap();
        let service = settings.service().await.unwrap();
        let file = format!(
            "{}\n\n{}\n{}\n{}\n{}\n{}\n{}\n",
            serde_json::json!({"email": "old@example.com", "password_hash": BCRYPT, "role": "member", "email_verified": true}),
            serde_json::json!({"email": "new@example.com", "password": "correct horse battery"}),
            serde_json::json!({"email": "bad@example.com", "password_hash": "not a hash"}),
            "{\"email\": \"broken@example.com\", ",
            serde_json::json!({"email": "both@example.com", "password": "correct horse battery", "password_hash": BCRYPT}),
            serde_json::json!({"email": "old@example.com", "password_hash": BCRYPT}),
            // The line for this email that was refused does not hold this one back.
            serde_json::json!({"email": "Bad@example.com", "password_hash": BCRYPT}),
        );
        let counts = import_lines(&service, file.as_bytes(), 4).await.unwrap();
        assert_eq!(
            (counts.imported, counts.skipped, counts.rejected),
            (3, 1, 3),
            "{counts:?}"
        );
        let lines: Vec<usize> = counts.errors.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [4, 5, 6]);
        assert!(
            counts
                .errors
                .iter()
                .all(|(_, why)| !why.contains("not a hash"))
        );
        let login = service
            .login(
                "old@example.com",
                &assimetria_auth::Password::new("U*U"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(login.user.role.as_str(), "member");
        assert!(login.user.email_verified);
        // A second run skips everyone already there.
        let again = import_lines(&service, file.as_bytes(), 4).await.unwrap();
        assert_eq!((again.imported, again.skipped, again.rejected), (0, 4, 3));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "assimetria-import-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
