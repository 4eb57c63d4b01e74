-- assimetria-auth schema, version 2 (PostgreSQL).
--
-- Server secrets get a table of their own: the refresh-successor derivation secret used to sit
-- among the signing keys under the magic kid 'refresh-derivation'. It moves here unchanged; the
-- service seals it (and every signing key still stored in plain form) under the host's master key
-- on its first start with this schema.

CREATE TABLE auth_secrets (
    name       TEXT   NOT NULL PRIMARY KEY,
    material   BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

INSERT INTO auth_secrets (name, material, created_at)
    SELECT kid, material, created_at FROM auth_signing_keys WHERE kid = 'refresh-derivation';

DELETE FROM auth_signing_keys WHERE kid = 'refresh-derivation';
