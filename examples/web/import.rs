//! Bulk import of existing users into the example server's database:
//!
//! ```text
//! cargo run --example import -- users.jsonl
//! ```
//!
//! One JSON object per line, in the shape of `POST /api/users`:
//! `{"email", "password" | "password_hash", "role"?, "email_verified"?}`. A `password_hash` may be
//! a PHC argon2id/argon2i/argon2d, scrypt or pbkdf2-sha256 string or a bcrypt `$2a$`/`$2b$`/`$2y$`
//! hash: each user signs in with their old password, and the first login replaces the hash with
//! argon2id. The database, master key and mailer come from the same `ASSIMETRIA_AUTH_*`
//! variables as the servers. Prints the counts of imported, skipped (email taken) and rejected
//! lines, each rejected line with its number; exits with status 1 if any line was rejected.

use example_support::{BoxError, Settings, import_lines, init_logging};
use tokio::io::BufReader;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging()?;
    let Some(path) = std::env::args().nth(1) else {
        return Err("usage: cargo run --example import -- users.jsonl".into());
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let service = Settings::from_env()?.service().await?;
    let parallel = std::thread::available_parallelism().map_or(2, usize::from);
    let counts = import_lines(&service, BufReader::new(file), parallel).await?;
    for (line, why) in &counts.errors {
        eprintln!("{path}:{line}: rejected: {why}");
    }
    println!(
        "imported {}, skipped {} (email already present), rejected {}",
        counts.imported, counts.skipped, counts.rejected
    );
    service.flush().await?;
    if counts.rejected > 0 {
        std::process::exit(1);
    }
    Ok(())
}
