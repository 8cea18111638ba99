-- Registered terminals (MDS 15): PCs holding a client certificate of the institution's terminal
-- CA, and the institution's rule that logins come only from such a terminal.
--
-- Nothing here is secret: a certificate is kept only as its SHA-256 fingerprint.

-- The rule is off until an administrator turns it on.
ALTER TABLE institutions ADD COLUMN require_registered_terminal BOOLEAN NOT NULL DEFAULT FALSE;

-- An institution's terminals. There is no delete path: a revoked terminal keeps its row, so a
-- name is never reused within its institution. Fingerprints (upper-case hex pairs joined by
-- ':', as the server computes them) are unique across the whole deployment, hence the unique
-- constraint on the fingerprint alone; the key still starts with the institution. Byte order
-- ("C"), as in SQLite.
CREATE TABLE terminals (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    id              UUID NOT NULL,
    -- 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-', not starting with '.' (it names a file).
    name            TEXT COLLATE "C" NOT NULL
                    CHECK (char_length(name) BETWEEN 1 AND 64
                           AND name ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]*$'),
    cert_sha256     TEXT COLLATE "C" NOT NULL
                    CHECK (cert_sha256 ~ '^[0-9A-F]{2}(:[0-9A-F]{2}){31}$'),
    issued_at       TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ,
    PRIMARY KEY (institution_id, id),
    CONSTRAINT terminals_name_key UNIQUE (institution_id, name),
    CONSTRAINT terminals_cert_sha256_key UNIQUE (cert_sha256)
);
