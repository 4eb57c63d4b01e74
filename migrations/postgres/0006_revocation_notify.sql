-- assimetria-auth schema, version 6 (PostgreSQL).
--
-- Kept in step with ../sqlite/0006_revocation_notify.sql. Pushed revocations: every statement
-- that appends to the revocation log, whatever the write path (a logout, a reset, a role change,
-- a revoked API key, a removed user), and every change to the signing keys (a rotation, a
-- retirement) sends a notification on channel `assimetria_auth_revocations`. Each instance's
-- store listens on that channel (`SqlStore`'s revocation feed) and reads the log as soon as one
-- arrives, instead of at its next poll. NOTIFY is transactional: the notification is delivered
-- when the appending transaction commits, and not at all if it rolls back.
--
-- The payload is the schema of the table, so that deployments (or tests) sharing one database in
-- different schemas do not wake each other. The trigger is per statement: a statement that
-- appends many entries sends one notification, and PostgreSQL folds identical notifications of
-- one transaction into one.

CREATE FUNCTION auth_revocations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('assimetria_auth_revocations', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER auth_revocations_notify
    AFTER INSERT ON auth_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION auth_revocations_notify();

-- A signing key rotated on one instance reaches the others with the same wake-up (they read the
-- keys whenever they read the log).
CREATE TRIGGER auth_signing_keys_notify
    AFTER INSERT OR UPDATE OR DELETE ON auth_signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION auth_revocations_notify();
