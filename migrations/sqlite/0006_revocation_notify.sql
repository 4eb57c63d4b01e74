-- assimetria-auth schema, version 6 (SQLite).
--
-- Kept in step with ../postgres/0006_revocation_notify.sql, which makes PostgreSQL announce
-- appends to the revocation log (LISTEN/NOTIFY). SQLite has no such announcements: instances
-- sharing an SQLite file poll the log, so this version changes nothing here. The statement below
-- does nothing; it keeps both dialects at the same version number.
SELECT 1;
