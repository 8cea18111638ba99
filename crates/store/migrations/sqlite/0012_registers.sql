-- Registers (台帳・一覧, `mamori_core::register`): the compliance workbench's system inventory,
-- responsibility demarcation, asset / BYOD / IoT ledgers, incident contacts, BCP, third-party
-- provision records and patient notices. One mechanism for every kind: an entry has a current
-- version pointer (`register_entries`) and every version (`register_entry_versions`), its
-- fields kept as canonical JSON (an object of strings, keys sorted) that the store parses back
-- through the core checks on every read.
--
-- Same conventions as 0001 to 0011. Versions never change and are never deleted (triggers);
-- an entry's row changes only by a new version (one conditional UPDATE from the previous
-- version, never from a retired one) and is never deleted. The author is NULL for an
-- operator's import at the command line.

-- An entry: its register, the current version, whether that version retired it (廃止), and
-- who created it when. The index serves a register's list, oldest first.
CREATE TABLE register_entries (
    institution_id  TEXT NOT NULL,
    id              TEXT NOT NULL
                    CHECK (length(id) = 36 AND id = lower(id)),
    kind            TEXT NOT NULL
                    CHECK (kind IN ('system', 'demarcation', 'asset', 'byod', 'iot', 'contact', 'bcp',
                                    'third_party', 'patient_notice')),
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    retired         INTEGER NOT NULL CHECK (retired IN (0, 1)),
    created_by      TEXT,
    created_at      TEXT NOT NULL
                    CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id),
    FOREIGN KEY (institution_id) REFERENCES institutions (id),
    FOREIGN KEY (institution_id, created_by) REFERENCES users (institution_id, id)
) STRICT;

CREATE INDEX register_entries_by_kind ON register_entries (institution_id, kind, created_at, id);

-- Every version of every entry: its fields (canonical JSON), the reason when it retires the
-- entry, its author and time.
CREATE TABLE register_entry_versions (
    institution_id  TEXT NOT NULL,
    entry_id        TEXT NOT NULL,
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    fields          TEXT NOT NULL CHECK (length(fields) BETWEEN 2 AND 100000 AND json_valid(fields)),
    retired_reason  TEXT CHECK (retired_reason IS NULL OR length(retired_reason) BETWEEN 1 AND 500),
    author          TEXT,
    at              TEXT NOT NULL
                    CHECK (at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, entry_id, version),
    FOREIGN KEY (institution_id, entry_id) REFERENCES register_entries (institution_id, id),
    FOREIGN KEY (institution_id, author) REFERENCES users (institution_id, id)
) STRICT;

-- An entry's register, ID and creation never change; it is never deleted.
CREATE TRIGGER register_entries_keep_identity
BEFORE UPDATE OF institution_id, id, kind, created_by, created_at ON register_entries
BEGIN
    SELECT RAISE(ABORT, 'register entries keep their register, id and creation');
END;

CREATE TRIGGER register_entries_no_delete
BEFORE DELETE ON register_entries
BEGIN
    SELECT RAISE(ABORT, 'register entries are never deleted');
END;

-- Versions never change and are never deleted.
CREATE TRIGGER register_entry_versions_no_update
BEFORE UPDATE ON register_entry_versions
BEGIN
    SELECT RAISE(ABORT, 'register entry versions are append-only: a version is never changed');
END;

CREATE TRIGGER register_entry_versions_no_delete
BEFORE DELETE ON register_entry_versions
BEGIN
    SELECT RAISE(ABORT, 'register entry versions are append-only: a version is never deleted');
END;
