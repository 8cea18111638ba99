-- Patients of an institution (the records issue's first piece, `mamori_core::patient`): the
-- current identity of each patient, and every version of it with the reason for each change.
--
-- Counters are BIGINT bounded to a u32; lengths are counted in characters and match the core
-- rules (names 1 to 50, number 1 to 20, phone at most 20, address at most 200). The number and
-- the codes compare bytewise ("C"), as in SQLite. There is no delete path for patients, and
-- versions have no update or delete path either (triggers below, `TRUNCATE` included).

-- The current version of each patient's identity. `search_text` is
-- `mamori_core::patient::PatientName::search_text` of the name (normalized: narrow ASCII, lower
-- case, katakana, no spaces); a search matches a key as a substring of it (`strpos`), or as a
-- prefix of the number. A change is one conditional UPDATE from the previous version
-- (`version = new - 1`). The unique constraint on (institution_id, number) is also the index the
-- lookups use. No trigram index yet (it would need pg_trgm).
CREATE TABLE patients (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    id              UUID NOT NULL,
    number          TEXT COLLATE "C" NOT NULL CHECK (number ~ '^[A-Za-z0-9-]{1,20}$'),
    family          TEXT NOT NULL CHECK (char_length(family) BETWEEN 1 AND 50),
    given           TEXT NOT NULL CHECK (char_length(given) BETWEEN 1 AND 50),
    family_kana     TEXT NOT NULL CHECK (char_length(family_kana) BETWEEN 1 AND 50),
    given_kana      TEXT NOT NULL CHECK (char_length(given_kana) BETWEEN 1 AND 50),
    birth_date      DATE NOT NULL,
    sex             TEXT COLLATE "C" NOT NULL CHECK (sex IN ('male', 'female', 'other', 'unknown')),
    phone           TEXT CHECK (phone IS NULL OR char_length(phone) BETWEEN 1 AND 20),
    address         TEXT CHECK (address IS NULL OR char_length(address) BETWEEN 1 AND 200),
    search_text     TEXT NOT NULL CHECK (char_length(search_text) >= 1),
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      UUID NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, id),
    CONSTRAINT patients_number_key UNIQUE (institution_id, number),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
);

-- Every version of a patient's identity, the registration (version 1, no reason) included;
-- every later version carries the reason given for the change (1 to 500 characters).
CREATE TABLE patient_versions (
    institution_id  UUID NOT NULL,
    patient_id      UUID NOT NULL,
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    number          TEXT COLLATE "C" NOT NULL CHECK (number ~ '^[A-Za-z0-9-]{1,20}$'),
    family          TEXT NOT NULL CHECK (char_length(family) BETWEEN 1 AND 50),
    given           TEXT NOT NULL CHECK (char_length(given) BETWEEN 1 AND 50),
    family_kana     TEXT NOT NULL CHECK (char_length(family_kana) BETWEEN 1 AND 50),
    given_kana      TEXT NOT NULL CHECK (char_length(given_kana) BETWEEN 1 AND 50),
    birth_date      DATE NOT NULL,
    sex             TEXT COLLATE "C" NOT NULL CHECK (sex IN ('male', 'female', 'other', 'unknown')),
    phone           TEXT CHECK (phone IS NULL OR char_length(phone) BETWEEN 1 AND 20),
    address         TEXT CHECK (address IS NULL OR char_length(address) BETWEEN 1 AND 200),
    reason          TEXT,
    changed_by      UUID NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, patient_id, version),
    FOREIGN KEY (institution_id, patient_id) REFERENCES patients (institution_id, id),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id),
    CONSTRAINT patient_versions_reason_after_registration CHECK (
        (version = 1 AND reason IS NULL)
        OR (version > 1 AND reason IS NOT NULL AND char_length(reason) BETWEEN 1 AND 500)
    )
);

-- No update or delete path, whatever statement tries (TRUNCATE included, which skips row
-- triggers).
CREATE FUNCTION patient_versions_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'patient versions are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER patient_versions_append_only
    BEFORE UPDATE OR DELETE ON patient_versions
    FOR EACH ROW
    EXECUTE FUNCTION patient_versions_are_append_only();

CREATE TRIGGER patient_versions_no_truncate
    BEFORE TRUNCATE ON patient_versions
    FOR EACH STATEMENT
    EXECUTE FUNCTION patient_versions_are_append_only();
