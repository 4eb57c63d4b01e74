//! The development mailer.

use std::io::Write as _;
use std::path::PathBuf;

use assimetria_auth::Error;
use assimetria_auth::mail::{Mail, MailKind, Mailer};
use async_trait::async_trait;
use serde_json::json;

/// The development mailer: one JSON line `{"to", "kind", "token", "link"}` per mail, appended to
/// a file or printed to stdout. A real host sends the link by mail instead.
#[derive(Debug)]
pub struct OutboxMailer {
    /// The file to append to; `None` prints each line to stdout as `outbox: {…}`.
    pub path: Option<PathBuf>,
    /// The base of the links (`<public_url>/reset-password?token=…`,
    /// `<public_url>/verify-email?token=…`).
    pub public_url: String,
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: Mail) -> Result<(), Error> {
        let token = mail.token.expose();
        let page = match mail.kind {
            MailKind::VerifyEmail => "verify-email",
            _ => "reset-password",
        };
        let line = json!({
            "to": mail.to,
            "kind": mail.kind.as_str(),
            "token": token,
            "link": format!("{}/{page}?token={token}", self.public_url),
        })
        .to_string();
        match &self.path {
            // File I/O on the blocking pool, never on an executor thread.
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?;
                    // One write per line: appends of whole lines do not interleave.
                    file.write_all(format!("{line}\n").as_bytes())
                })
                .await
                .map_err(Error::mail)?
                .map_err(Error::mail)?;
            }
            None => println!("outbox: {line}"),
        }
        Ok(())
    }
}
