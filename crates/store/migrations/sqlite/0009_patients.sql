-- Patients of an institution (the records issue's first piece, `mamori_core::patient`): the
-- current identity of each patient, and every version of it with the reason for each change.
--
-- Same conventions as 0001 to 0008: lower-case hyphenated UUID text, UTC timestamps with
-- exactly six fractional digits, STRICT tables, counters that fit a u32. Birth dates are
-- `YYYY-MM-DD` text. Lengths are counted in characters and match the core rules (names 1 to 50,
-- number 1 to 20, phone at most 20, address at most 200). There is no delete path for patients,
-- and versions have no update or delete path either (triggers below).

-- The current version of each patient's identity. `search_text` is
-- `mamori_core::patient::PatientName::search_text` of the name (normalized: narrow ASCII, lower
-- case, katakana, no spaces); a search matches a key as a substring of it, or as a prefix of the
-- number. A change is one conditional UPDATE from the previous version (`version = new - 1`).
-- The unique constraint on (institution_id, number) is also the index the lookups and the
-- number search use.
CREATE TABLE patients (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    id              TEXT NOT NULL
                    CHECK (length(id) = 36 AND id = lower(id)),
    number          TEXT NOT NULL
                    CHECK (length(number) BETWEEN 1 AND 20 AND number NOT GLOB '*[^A-Za-z0-9-]*'),
    family          TEXT NOT NULL CHECK (length(family) BETWEEN 1 AND 50),
    given           TEXT NOT NULL CHECK (length(given) BETWEEN 1 AND 50),
    family_kana     TEXT NOT NULL CHECK (length(family_kana) BETWEEN 1 AND 50),
    given_kana      TEXT NOT NULL CHECK (length(given_kana) BETWEEN 1 AND 50),
    birth_date      TEXT NOT NULL
                    CHECK (birth_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    sex             TEXT NOT NULL CHECK (sex IN ('male', 'female', 'other', 'unknown')),
    phone           TEXT CHECK (phone IS NULL OR length(phone) BETWEEN 1 AND 20),
    address         TEXT CHECK (address IS NULL OR length(address) BETWEEN 1 AND 200),
    search_text     TEXT NOT NULL CHECK (length(search_text) >= 1),
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      TEXT NOT NULL,
    changed_at      TEXT NOT NULL
                    CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id),
    CONSTRAINT patients_number_key UNIQUE (institution_id, number),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
) STRICT;

-- Every version of a patient's identity, the registration (version 1, no reason) included;
-- every later version carries the reason given for the change (1 to 500 characters).
CREATE TABLE patient_versions (
    institution_id  TEXT NOT NULL,
    patient_id      TEXT NOT NULL,
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    number          TEXT NOT NULL
                    CHECK (length(number) BETWEEN 1 AND 20 AND number NOT GLOB '*[^A-Za-z0-9-]*'),
    family          TEXT NOT NULL CHECK (length(family) BETWEEN 1 AND 50),
    given           TEXT NOT NULL CHECK (length(given) BETWEEN 1 AND 50),
    family_kana     TEXT NOT NULL CHECK (length(family_kana) BETWEEN 1 AND 50),
    given_kana      TEXT NOT NULL CHECK (length(given_kana) BETWEEN 1 AND 50),
    birth_date      TEXT NOT NULL
                    CHECK (birth_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    sex             TEXT NOT NULL CHECK (sex IN ('male', 'female', 'other', 'unknown')),
    phone           TEXT CHECK (phone IS NULL OR length(phone) BETWEEN 1 AND 20),
    address         TEXT CHECK (address IS NULL OR length(address) BETWEEN 1 AND 200),
    reason          TEXT,
    changed_by      TEXT NOT NULL,
    changed_at      TEXT NOT NULL
                    CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, patient_id, version),
    FOREIGN KEY (institution_id, patient_id) REFERENCES patients (institution_id, id),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id),
    CONSTRAINT patient_versions_reason_after_registration CHECK (
        (version = 1 AND reason IS NULL)
        OR (version > 1 AND reason IS NOT NULL AND length(reason) BETWEEN 1 AND 500)
    )
) STRICT;

-- No update or delete path, whatever statement tries.
CREATE TRIGGER patient_versions_no_update
BEFORE UPDATE ON patient_versions
BEGIN
    SELECT RAISE(ABORT, 'patient versions are append-only: a version is never changed');
END;

CREATE TRIGGER patient_versions_no_delete
BEFORE DELETE ON patient_versions
BEGIN
    SELECT RAISE(ABORT, 'patient versions are append-only: a version is never deleted');
END;
