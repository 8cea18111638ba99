-- Registers (台帳・一覧, `mamori_core::register`): the compliance workbench's system inventory,
-- responsibility demarcation, asset / BYOD / IoT ledgers, incident contacts, BCP, third-party
-- provision records and patient notices. One mechanism for every kind: an entry has a current
-- version pointer (`register_entries`) and every version (`register_entry_versions`), its
-- fields kept as canonical JSON text (an object of strings, keys sorted; TEXT, not JSONB, so
-- the bytes stay as written) that the store parses back through the core checks on every read.
--
-- Same conventions as 0001 to 0011. Versions never change and are never deleted (triggers,
-- TRUNCATE included); an entry's row changes only by a new version (one conditional UPDATE from
-- the previous version, never from a retired one) and is never deleted. The author is NULL for
-- an operator's import at the command line.

-- An entry: its register, the current version, whether that version retired it (廃止), and
-- who created it when. The index serves a register's list, oldest first.
CREATE TABLE register_entries (
    institution_id  UUID NOT NULL,
    id              UUID NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL
                    CHECK (kind IN ('system', 'demarcation', 'asset', 'byod', 'iot', 'contact', 'bcp',
                                    'third_party', 'patient_notice')),
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    retired         BOOLEAN NOT NULL,
    created_by      UUID,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, id),
    CONSTRAINT register_entries_institution_fkey
        FOREIGN KEY (institution_id) REFERENCES institutions (id),
    CONSTRAINT register_entries_created_by_fkey
        FOREIGN KEY (institution_id, created_by) REFERENCES users (institution_id, id)
);

CREATE INDEX register_entries_by_kind ON register_entries (institution_id, kind, created_at, id);

-- Every version of every entry: its fields (canonical JSON), the reason when it retires the
-- entry, its author and time.
CREATE TABLE register_entry_versions (
    institution_id  UUID NOT NULL,
    entry_id        UUID NOT NULL,
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    fields          TEXT NOT NULL CHECK (char_length(fields) BETWEEN 2 AND 100000),
    retired_reason  TEXT CHECK (retired_reason IS NULL OR char_length(retired_reason) BETWEEN 1 AND 500),
    author          UUID,
    at              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, entry_id, version),
    CONSTRAINT register_entry_versions_entry_fkey
        FOREIGN KEY (institution_id, entry_id) REFERENCES register_entries (institution_id, id),
    CONSTRAINT register_entry_versions_author_fkey
        FOREIGN KEY (institution_id, author) REFERENCES users (institution_id, id)
);

CREATE FUNCTION registers_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % on % is refused', TG_ARGV[0], TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- An entry's register, ID and creation never change; it is never deleted.
CREATE TRIGGER register_entries_keep_identity
    BEFORE UPDATE OF institution_id, id, kind, created_by, created_at ON register_entries
    FOR EACH ROW
    EXECUTE FUNCTION registers_refuse('register entries keep their register, id and creation');

CREATE TRIGGER register_entries_no_delete
    BEFORE DELETE ON register_entries
    FOR EACH ROW
    EXECUTE FUNCTION registers_refuse('register entries are never deleted');

CREATE TRIGGER register_entries_no_truncate
    BEFORE TRUNCATE ON register_entries
    FOR EACH STATEMENT
    EXECUTE FUNCTION registers_refuse('register entries are never deleted');

-- Versions never change and are never deleted.
CREATE TRIGGER register_entry_versions_append_only
    BEFORE UPDATE OR DELETE ON register_entry_versions
    FOR EACH ROW
    EXECUTE FUNCTION registers_refuse('register entry versions are append-only');

CREATE TRIGGER register_entry_versions_no_truncate
    BEFORE TRUNCATE ON register_entry_versions
    FOR EACH STATEMENT
    EXECUTE FUNCTION registers_refuse('register entry versions are append-only');
