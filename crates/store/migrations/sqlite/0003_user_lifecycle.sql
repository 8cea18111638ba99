-- User lifecycle: retired accounts stay retired, and re-enrollment passes (MDS 4.1.2).
--
-- Same conventions as 0001 and 0002: lower-case hyphenated UUID text, UTC timestamps with
-- exactly six fractional digits, STRICT tables. The ID ledger needs no new column: it reads
-- users.last_login_at from 0002.

-- Retired is final, whatever statement tries to change it: the store refuses first (and says
-- so), the schema refuses anyway.
CREATE TRIGGER users_retired_is_final
BEFORE UPDATE OF status ON users
WHEN OLD.status = 'retired' AND NEW.status <> 'retired'
BEGIN
    SELECT RAISE(ABORT, 'a retired account stays retired');
END;

-- Single-use, time-limited passes an administrator issues (with a stated reason) for a user who
-- lost their second factor. Only the SHA-256 of a pass is stored; it is the key, so a pass is
-- looked up and used by one conditional UPDATE that also names the institution and the user.
-- The issuer is a user of the same institution.
CREATE TABLE reenroll_passes (
    pass_hash       BLOB NOT NULL PRIMARY KEY CHECK (length(pass_hash) = 32),
    institution_id  TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    issued_by       TEXT NOT NULL,
    reason          TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    issued_at       TEXT NOT NULL
                    CHECK (issued_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    expires_at      TEXT NOT NULL
                    CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    used_at         TEXT
                    CHECK (used_at IS NULL OR used_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, issued_by) REFERENCES users (institution_id, id)
) STRICT;

-- The review list: an institution's passes, newest first.
CREATE INDEX reenroll_passes_by_institution ON reenroll_passes (institution_id, issued_at);
