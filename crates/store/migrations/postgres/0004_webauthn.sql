-- WebAuthn: registered credentials (security keys, passkeys) and pending ceremonies.
--
-- Nothing here is secret: a credential is its public key and counter (as webauthn-rs
-- serializes it), a ceremony's state its challenge.

-- A user's registered credentials. Credential IDs are chosen by the authenticator and unique
-- across the whole deployment (like login IDs), hence the unique index on the ID alone; the
-- key still starts with the institution, as every key of institution data does.
CREATE TABLE user_webauthn (
    institution_id   UUID NOT NULL,
    user_id          UUID NOT NULL,
    credential_id    BYTEA NOT NULL CHECK (octet_length(credential_id) BETWEEN 1 AND 1023),
    name             TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    credential_json  TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    last_used_at     TIMESTAMPTZ,
    PRIMARY KEY (institution_id, credential_id),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
);

CREATE UNIQUE INDEX user_webauthn_credential_id_key ON user_webauthn (credential_id);

-- A user's credentials, oldest first.
CREATE INDEX user_webauthn_by_user ON user_webauthn (institution_id, user_id, created_at);

-- The one pending ceremony (registration or login) of a session, keyed by the session's token
-- hash and gone with the session. Taken by one DELETE ... RETURNING, so it is used at most
-- once; every statement also names the institution.
CREATE TABLE webauthn_challenges (
    token_hash      BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(token_hash) = 32)
                    REFERENCES sessions (token_hash) ON DELETE CASCADE,
    institution_id  UUID NOT NULL,
    purpose         TEXT NOT NULL CHECK (purpose IN ('register', 'authenticate')),
    state           TEXT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);
