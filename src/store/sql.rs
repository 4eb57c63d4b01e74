//! SQL stores (SQLite, PostgreSQL).
