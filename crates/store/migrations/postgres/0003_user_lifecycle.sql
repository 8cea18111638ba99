-- User lifecycle: retired accounts stay retired, and re-enrollment passes (MDS 4.1.2).
--
-- The ID ledger needs no new column: it reads users.last_login_at from 0002.

-- Retired is final, whatever statement tries to change it: the store refuses first (and says
-- so), the schema refuses anyway.
CREATE FUNCTION users_retired_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a retired account stays retired' USING ERRCODE = 'check_violation';
END;
$$;

CREATE TRIGGER users_retired_is_final
    BEFORE UPDATE OF status ON users
    FOR EACH ROW
    WHEN (OLD.status = 'retired' AND NEW.status <> 'retired')
    EXECUTE FUNCTION users_retired_is_final();

-- Single-use, time-limited passes an administrator issues (with a stated reason) for a user who
-- lost their second factor. Only the SHA-256 of a pass is stored; it is the key, so a pass is
-- looked up and used by one conditional UPDATE that also names the institution and the user.
-- The issuer is a user of the same institution.
CREATE TABLE reenroll_passes (
    pass_hash       BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(pass_hash) = 32),
    institution_id  UUID NOT NULL,
    user_id         UUID NOT NULL,
    issued_by       UUID NOT NULL,
    reason          TEXT NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    issued_at       TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, issued_by) REFERENCES users (institution_id, id)
);

-- The review list: an institution's passes, newest first.
CREATE INDEX reenroll_passes_by_institution ON reenroll_passes (institution_id, issued_at);
