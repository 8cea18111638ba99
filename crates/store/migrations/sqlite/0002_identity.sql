-- Identity: last-login bookkeeping on users, login throttles, TOTP enrollments, recovery codes
-- and sessions.
--
-- Same conventions as 0001: lower-case hyphenated UUID text, UTC timestamps with exactly six
-- fractional digits, STRICT tables. Secrets are stored only where they must be read back (the
-- TOTP shared secret, the CSRF token); session tokens and recovery codes only as SHA-256.
-- Counters fit a u32.

-- The previous successful login and the failures since it (MDS: last-logon display). Read
-- and reset together when a login succeeds.
ALTER TABLE users ADD COLUMN last_login_at TEXT
    CHECK (last_login_at IS NULL OR last_login_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z');
ALTER TABLE users ADD COLUMN failures_since_login INTEGER NOT NULL DEFAULT 0
    CHECK (failures_since_login BETWEEN 0 AND 4294967295);

-- Deployment-level: keyed by the login ID as typed, whether or not such a user exists, so an
-- unknown ID is throttled exactly like a real one.
CREATE TABLE login_throttles (
    login_id         TEXT NOT NULL PRIMARY KEY,
    failures         INTEGER NOT NULL CHECK (failures BETWEEN 0 AND 4294967295),
    last_failure_at  TEXT NOT NULL
                     CHECK (last_failure_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;

-- One TOTP enrollment per user. `last_used_step` is the replay guard: a code is accepted only
-- for a later time step, by a single conditional UPDATE.
CREATE TABLE user_totp (
    institution_id  TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    -- RFC 4226: at least 128 bits.
    secret          BLOB NOT NULL CHECK (length(secret) >= 16),
    confirmed       INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
    last_used_step  INTEGER,
    created_at      TEXT NOT NULL
                    CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, user_id),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
) STRICT;

-- SHA-256 of each one-time recovery code.
CREATE TABLE user_recovery_codes (
    institution_id  TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    code_hash       BLOB NOT NULL CHECK (length(code_hash) = 32),
    created_at      TEXT NOT NULL
                    CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    used_at         TEXT
                    CHECK (used_at IS NULL OR used_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, user_id, code_hash),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
) STRICT;

-- Server-side sessions, keyed by the SHA-256 of the cookie's token (the token itself is never
-- stored). Looked up deployment-wide by that hash; every change also names the institution.
CREATE TABLE sessions (
    token_hash               BLOB NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    institution_id           TEXT NOT NULL,
    user_id                  TEXT NOT NULL,
    stage                    TEXT NOT NULL CHECK (stage IN ('second_factor', 'enroll', 'full')),
    created_at               TEXT NOT NULL
                             CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    last_seen_at             TEXT NOT NULL
                             CHECK (last_seen_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    expires_at               TEXT NOT NULL
                             CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    locked                   INTEGER NOT NULL CHECK (locked IN (0, 1)),
    csrf_token               TEXT NOT NULL,
    previous_login_at        TEXT
                             CHECK (previous_login_at IS NULL OR previous_login_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    failures_since_previous  INTEGER NOT NULL CHECK (failures_since_previous BETWEEN 0 AND 4294967295),
    client_cert_sha256       TEXT,
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
) STRICT;

CREATE INDEX sessions_by_user ON sessions (institution_id, user_id);
