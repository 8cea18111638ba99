-- Identity: last-login bookkeeping on users, login throttles, TOTP enrollments, recovery codes
-- and sessions.
--
-- Secrets are stored only where they must be read back (the TOTP shared secret, the CSRF
-- token); session tokens and recovery codes only as SHA-256. Counters are BIGINT bounded to
-- the range of a u32.

-- The previous successful login and the failures since it (MDS: last-logon display). Read
-- and reset together when a login succeeds.
ALTER TABLE users
    ADD COLUMN last_login_at TIMESTAMPTZ,
    ADD COLUMN failures_since_login BIGINT NOT NULL DEFAULT 0
        CHECK (failures_since_login BETWEEN 0 AND 4294967295);

-- Deployment-level: keyed by the login ID as typed, whether or not such a user exists, so an
-- unknown ID is throttled exactly like a real one.
CREATE TABLE login_throttles (
    login_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    failures         BIGINT NOT NULL CHECK (failures BETWEEN 0 AND 4294967295),
    last_failure_at  TIMESTAMPTZ NOT NULL
);

-- One TOTP enrollment per user. `last_used_step` is the replay guard: a code is accepted only
-- for a later time step, by a single conditional UPDATE.
CREATE TABLE user_totp (
    institution_id  UUID NOT NULL,
    user_id         UUID NOT NULL,
    -- RFC 4226: at least 128 bits.
    secret          BYTEA NOT NULL CHECK (octet_length(secret) >= 16),
    confirmed       BOOLEAN NOT NULL,
    last_used_step  BIGINT,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, user_id),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
);

-- SHA-256 of each one-time recovery code.
CREATE TABLE user_recovery_codes (
    institution_id  UUID NOT NULL,
    user_id         UUID NOT NULL,
    code_hash       BYTEA NOT NULL CHECK (octet_length(code_hash) = 32),
    created_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    PRIMARY KEY (institution_id, user_id, code_hash),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
);

-- Server-side sessions, keyed by the SHA-256 of the cookie's token (the token itself is never
-- stored). Looked up deployment-wide by that hash; every change also names the institution.
CREATE TABLE sessions (
    token_hash               BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    institution_id           UUID NOT NULL,
    user_id                  UUID NOT NULL,
    stage                    TEXT NOT NULL CHECK (stage IN ('second_factor', 'enroll', 'full')),
    created_at               TIMESTAMPTZ NOT NULL,
    last_seen_at             TIMESTAMPTZ NOT NULL,
    expires_at               TIMESTAMPTZ NOT NULL,
    locked                   BOOLEAN NOT NULL,
    csrf_token               TEXT NOT NULL,
    previous_login_at        TIMESTAMPTZ,
    failures_since_previous  BIGINT NOT NULL CHECK (failures_since_previous BETWEEN 0 AND 4294967295),
    client_cert_sha256       TEXT,
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
);

CREATE INDEX sessions_by_user ON sessions (institution_id, user_id);
