-- Registered terminals (MDS 15): PCs holding a client certificate of the institution's terminal
-- CA, and the institution's rule that logins come only from such a terminal.
--
-- Same conventions as 0001 to 0004: lower-case hyphenated UUID text, UTC timestamps with
-- exactly six fractional digits, STRICT tables. Nothing here is secret: a certificate is kept
-- only as its SHA-256 fingerprint.

-- The rule is off until an administrator turns it on.
ALTER TABLE institutions ADD COLUMN require_registered_terminal INTEGER NOT NULL DEFAULT 0
    CHECK (require_registered_terminal IN (0, 1));

-- An institution's terminals. There is no delete path: a revoked terminal keeps its row, so a
-- name is never reused within its institution. Fingerprints (upper-case hex pairs joined by
-- ':', as the server computes them) are unique across the whole deployment, hence the unique
-- constraint on the fingerprint alone; the key still starts with the institution.
CREATE TABLE terminals (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    id              TEXT NOT NULL
                    CHECK (length(id) = 36 AND id = lower(id)),
    -- 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-', not starting with '.' (it names a file).
    name            TEXT NOT NULL
                    CHECK (length(name) BETWEEN 1 AND 64
                           AND name NOT GLOB '*[^A-Za-z0-9._-]*' AND name NOT GLOB '.*'),
    cert_sha256     TEXT NOT NULL
                    CHECK (cert_sha256 GLOB
                           '[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:' ||
                           '[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:' ||
                           '[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:' ||
                           '[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:' ||
                           '[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:' ||
                           '[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:' ||
                           '[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:' ||
                           '[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]:[0-9A-F][0-9A-F]'),
    issued_at       TEXT NOT NULL
                    CHECK (issued_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    revoked_at      TEXT
                    CHECK (revoked_at IS NULL OR revoked_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id),
    CONSTRAINT terminals_name_key UNIQUE (institution_id, name),
    CONSTRAINT terminals_cert_sha256_key UNIQUE (cert_sha256)
) STRICT;
