-- Clinical records (the records issue, `mamori_core::record` and `mamori_core::master`): the
-- institution's master entries, its registered devices, its records and every version of them;
-- and the log, whose leaves may now be finalized record versions as well as audit events.
--
-- Same conventions as 0001 to 0009: lower-case hyphenated UUID text, UTC timestamps with
-- exactly six fractional digits, STRICT tables, counters that fit a u32, dates as `YYYY-MM-DD`
-- text (which compare as dates). Lengths are counted in characters and match the core rules.
-- Nothing here has a delete path, in the store or in the schema (triggers below); master
-- entries and records never change, a device changes once (its revocation), and a version
-- changes only while it is a draft or pending approval: a version that is final, discarded or
-- rejected never changes again.

-- The log's leaves may be record versions (`kind = 'record'`). SQLite cannot change a CHECK in
-- place, so the table is rebuilt with the definition of 0008 but for that one check: a new
-- table, every row copied as it is, the old table dropped (its indexes and triggers with it; no
-- table refers to it, and a DROP fires no trigger), the new one renamed, and the indexes and
-- triggers of 0008 created again. The migration runs in one transaction: all of it or none.
CREATE TABLE log_leaves_new (
    institution_id  TEXT NOT NULL REFERENCES log_heads (institution_id),
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    leaf            BLOB NOT NULL,
    leaf_hash       BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    kind            TEXT NOT NULL CHECK (kind IN ('audit', 'record')),
    at              TEXT NOT NULL
                    CHECK (at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    actor_id        TEXT CHECK (actor_id IS NULL OR (length(actor_id) = 36 AND actor_id = lower(actor_id))),
    patient_id      TEXT CHECK (patient_id IS NULL OR (length(patient_id) = 36 AND patient_id = lower(patient_id))),
    action          TEXT NOT NULL
                    CHECK (length(action) BETWEEN 1 AND 64
                           AND action GLOB '[a-z]*' AND action NOT GLOB '*[^a-z0-9_.]*'),
    outcome         TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error')),
    category        TEXT
                    CHECK (category IS NULL OR (length(category) BETWEEN 1 AND 40
                           AND category GLOB '[a-z]*' AND category NOT GLOB '*[^a-z0-9_]*')),
    PRIMARY KEY (institution_id, idx)
) STRICT;

INSERT INTO log_leaves_new
    (institution_id, idx, leaf, leaf_hash, kind, at, actor_id, patient_id, action, outcome, category)
SELECT institution_id, idx, leaf, leaf_hash, kind, at, actor_id, patient_id, action, outcome, category
FROM log_leaves;

DROP TABLE log_leaves;

ALTER TABLE log_leaves_new RENAME TO log_leaves;

-- The auditor's searches, newest first within each (as in 0008).
CREATE INDEX log_leaves_by_actor ON log_leaves (institution_id, actor_id, idx);
CREATE INDEX log_leaves_by_patient ON log_leaves (institution_id, patient_id, idx);
CREATE INDEX log_leaves_by_time ON log_leaves (institution_id, at);
CREATE INDEX log_leaves_by_action ON log_leaves (institution_id, action, idx);

-- No update or delete path, whatever statement tries (as in 0008).
CREATE TRIGGER log_leaves_no_update
BEFORE UPDATE ON log_leaves
BEGIN
    SELECT RAISE(ABORT, 'the log is append-only: a leaf is never changed');
END;

CREATE TRIGGER log_leaves_no_delete
BEFORE DELETE ON log_leaves
BEGIN
    SELECT RAISE(ABORT, 'the log is append-only: a leaf is never deleted');
END;

-- One version of one entry of the institution's master (drugs, diseases, lab items): a code's
-- versions are numbered from 1, each valid from `valid_from` (inclusive) to `valid_to`
-- (exclusive; NULL: open-ended). A record keeps the version it used, so entries never change;
-- an import adds versions. `imported_by` is NULL for the sample master `mamori init` loads.
-- The primary key is also the index by (institution, master, code) that lookups and searches
-- go through.
CREATE TABLE master_entries (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    master          TEXT NOT NULL CHECK (master IN ('drug', 'disease', 'lab_item')),
    -- 1 to 20 of A-Z, a-z, 0-9, '.', '_', '-'.
    code            TEXT NOT NULL
                    CHECK (length(code) BETWEEN 1 AND 20 AND code NOT GLOB '*[^A-Za-z0-9._-]*'),
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    unit            TEXT CHECK (unit IS NULL OR length(unit) BETWEEN 1 AND 20),
    reference_range TEXT CHECK (reference_range IS NULL OR length(reference_range) BETWEEN 1 AND 30),
    valid_from      TEXT NOT NULL
                    CHECK (valid_from GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    valid_to        TEXT
                    CHECK (valid_to IS NULL OR valid_to GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    imported_at     TEXT NOT NULL
                    CHECK (imported_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    imported_by     TEXT,
    PRIMARY KEY (institution_id, master, code, version),
    FOREIGN KEY (institution_id, imported_by) REFERENCES users (institution_id, id),
    CONSTRAINT master_entries_valid_to_after_valid_from CHECK (valid_to IS NULL OR valid_to > valid_from)
) STRICT;

-- A registered device (MDS 17): an analyzer or another system that sends results with a bearer
-- token, kept only as its SHA-256. Token hashes are unique across the whole deployment (a
-- device is found by its token alone, then names its institution), names within the
-- institution. There is no delete path: a revoked device keeps its row (its results name it),
-- and revocation is its only change, made once (trigger below).
CREATE TABLE devices (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    id              TEXT NOT NULL
                    CHECK (length(id) = 36 AND id = lower(id)),
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash      BLOB NOT NULL CHECK (length(token_hash) = 32),
    registered_by   TEXT NOT NULL,
    registered_at   TEXT NOT NULL
                    CHECK (registered_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    revoked_at      TEXT
                    CHECK (revoked_at IS NULL OR revoked_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id),
    CONSTRAINT devices_name_key UNIQUE (institution_id, name),
    CONSTRAINT devices_token_hash_key UNIQUE (token_hash),
    FOREIGN KEY (institution_id, registered_by) REFERENCES users (institution_id, id),
    CONSTRAINT devices_revoked_after_registered CHECK (revoked_at IS NULL OR revoked_at >= registered_at)
) STRICT;

-- A record: what never changes once it is created (its patient, kind, category and creator, a
-- user or a device: exactly one). The patient's foreign key names the institution, so the
-- institution exists too. The index serves a patient's chart, oldest record first.
CREATE TABLE records (
    institution_id    TEXT NOT NULL,
    id                TEXT NOT NULL
                      CHECK (length(id) = 36 AND id = lower(id)),
    patient_id        TEXT NOT NULL,
    kind              TEXT NOT NULL
                      CHECK (kind IN ('progress_note', 'diagnosis', 'prescription', 'lab_result', 'document')),
    -- As `mamori_core::authz::Category::parse` (and `log_leaves.category`).
    category          TEXT NOT NULL
                      CHECK (length(category) BETWEEN 1 AND 40
                             AND category GLOB '[a-z]*' AND category NOT GLOB '*[^a-z0-9_]*'),
    created_by_user   TEXT,
    created_by_device TEXT,
    created_at        TEXT NOT NULL
                      CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id),
    FOREIGN KEY (institution_id, patient_id) REFERENCES patients (institution_id, id),
    FOREIGN KEY (institution_id, created_by_user) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, created_by_device) REFERENCES devices (institution_id, id),
    CONSTRAINT records_one_creator CHECK ((created_by_user IS NULL) <> (created_by_device IS NULL))
) STRICT;

CREATE INDEX records_by_patient ON records (institution_id, patient_id, created_at);

-- Every version of a record. `content` is the canonical JSON of the content
-- (`mamori_core::record::Content::canonical`), kept byte for byte as text: what was hashed into
-- a final version's leaf is what is stored. The author and the finalizer are each a user or a
-- device (exactly one); a proxy entry (代行入力) names the doctor it was entered for, who
-- approves (finalizes) or rejects it.
--
-- The states: a draft (its author edits it, then finalizes or discards it), pending approval
-- (its doctor approves or rejects it), final (with its finalizer, time and the index of its
-- leaf in the institution's log, unique there), discarded, rejected (with who and why).
-- Version 1 is the original; every later version is a correction or a cancellation, final at
-- once, with its reason.
CREATE TABLE record_versions (
    institution_id      TEXT NOT NULL,
    record_id           TEXT NOT NULL,
    version             INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    change              TEXT NOT NULL CHECK (change IN ('original', 'correction', 'cancellation')),
    state               TEXT NOT NULL
                        CHECK (state IN ('draft', 'pending_approval', 'final', 'discarded', 'rejected')),
    content             TEXT NOT NULL CHECK (length(content) BETWEEN 1 AND 200000),
    reason              TEXT CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 500),
    author_user         TEXT,
    author_device       TEXT,
    proxy_for           TEXT,
    entered_at          TEXT NOT NULL
                        CHECK (entered_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at          TEXT NOT NULL
                        CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    finalized_by_user   TEXT,
    finalized_by_device TEXT,
    finalized_at        TEXT
                        CHECK (finalized_at IS NULL OR finalized_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    leaf_index          INTEGER CHECK (leaf_index IS NULL OR leaf_index >= 0),
    rejected_by         TEXT,
    reject_reason       TEXT CHECK (reject_reason IS NULL OR length(reject_reason) BETWEEN 1 AND 500),
    PRIMARY KEY (institution_id, record_id, version),
    FOREIGN KEY (institution_id, record_id) REFERENCES records (institution_id, id),
    FOREIGN KEY (institution_id, author_user) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, author_device) REFERENCES devices (institution_id, id),
    FOREIGN KEY (institution_id, proxy_for) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, finalized_by_user) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, finalized_by_device) REFERENCES devices (institution_id, id),
    FOREIGN KEY (institution_id, rejected_by) REFERENCES users (institution_id, id),
    -- One leaf is one version (NULLs, the versions not final, are many).
    CONSTRAINT record_versions_leaf_index_key UNIQUE (institution_id, leaf_index),
    CONSTRAINT record_versions_one_author CHECK ((author_user IS NULL) <> (author_device IS NULL)),
    CONSTRAINT record_versions_original_first CHECK ((version = 1) = (change = 'original')),
    CONSTRAINT record_versions_changes_are_final_with_a_reason
        CHECK (change = 'original' OR (reason IS NOT NULL AND state = 'final')),
    CONSTRAINT record_versions_final_whole CHECK (
        (state = 'final' AND finalized_at IS NOT NULL AND leaf_index IS NOT NULL
         AND (finalized_by_user IS NULL) <> (finalized_by_device IS NULL))
        OR (state <> 'final' AND finalized_at IS NULL AND leaf_index IS NULL
            AND finalized_by_user IS NULL AND finalized_by_device IS NULL)
    ),
    CONSTRAINT record_versions_proxy_entries_name_their_doctor
        CHECK (state NOT IN ('pending_approval', 'rejected') OR proxy_for IS NOT NULL),
    CONSTRAINT record_versions_rejection_whole CHECK (
        (state = 'rejected' AND rejected_by IS NOT NULL AND reject_reason IS NOT NULL)
        OR (state <> 'rejected' AND rejected_by IS NULL AND reject_reason IS NULL)
    ),
    CONSTRAINT record_versions_proxy_entered_by_a_user CHECK (proxy_for IS NULL OR author_user IS NOT NULL),
    CONSTRAINT record_versions_updated_after_entered CHECK (updated_at >= entered_at)
) STRICT;

-- A doctor's approval queue, oldest entry first.
CREATE INDEX record_versions_approval_queue ON record_versions (institution_id, proxy_for, entered_at)
    WHERE state = 'pending_approval';

-- Master entries never change and are never deleted.
CREATE TRIGGER master_entries_no_update
BEFORE UPDATE ON master_entries
BEGIN
    SELECT RAISE(ABORT, 'master entries are append-only: an entry is never changed');
END;

CREATE TRIGGER master_entries_no_delete
BEFORE DELETE ON master_entries
BEGIN
    SELECT RAISE(ABORT, 'master entries are append-only: an entry is never deleted');
END;

-- A device is never deleted; its only change is its revocation, once.
CREATE TRIGGER devices_no_delete
BEFORE DELETE ON devices
BEGIN
    SELECT RAISE(ABORT, 'devices are never deleted');
END;

CREATE TRIGGER devices_change_only_by_revocation
BEFORE UPDATE ON devices
WHEN OLD.revoked_at IS NOT NULL
    OR NEW.institution_id IS NOT OLD.institution_id OR NEW.id IS NOT OLD.id OR NEW.name IS NOT OLD.name
    OR NEW.token_hash IS NOT OLD.token_hash OR NEW.registered_by IS NOT OLD.registered_by
    OR NEW.registered_at IS NOT OLD.registered_at
BEGIN
    SELECT RAISE(ABORT, 'a device changes only once, by its revocation');
END;

-- Records never change and are never deleted.
CREATE TRIGGER records_no_update
BEFORE UPDATE ON records
BEGIN
    SELECT RAISE(ABORT, 'clinical records are append-only: a record is never changed');
END;

CREATE TRIGGER records_no_delete
BEFORE DELETE ON records
BEGIN
    SELECT RAISE(ABORT, 'clinical records are append-only: a record is never deleted');
END;

-- Versions are never deleted. A version that is final, discarded or rejected never changes;
-- one that is a draft or pending approval keeps what it is (record, number, change, author,
-- proxy, entry time, reason) and moves only as the model says: a draft to final or
-- discarded, a proxy entry to final or rejected. (A settled version meets only the first of
-- these triggers, whatever the statement changes, so its refusal always says why.)
CREATE TRIGGER record_versions_no_delete
BEFORE DELETE ON record_versions
BEGIN
    SELECT RAISE(ABORT, 'clinical records are append-only: a version is never deleted');
END;

CREATE TRIGGER record_versions_settled_never_change
BEFORE UPDATE ON record_versions
WHEN OLD.state NOT IN ('draft', 'pending_approval')
BEGIN
    SELECT RAISE(ABORT, 'a finalized, discarded or rejected version never changes');
END;

CREATE TRIGGER record_versions_keep_what_they_are
BEFORE UPDATE ON record_versions
WHEN OLD.state IN ('draft', 'pending_approval')
    AND (NEW.institution_id IS NOT OLD.institution_id OR NEW.record_id IS NOT OLD.record_id
         OR NEW.version IS NOT OLD.version OR NEW.change IS NOT OLD.change
         OR NEW.author_user IS NOT OLD.author_user OR NEW.author_device IS NOT OLD.author_device
         OR NEW.proxy_for IS NOT OLD.proxy_for OR NEW.entered_at IS NOT OLD.entered_at
         OR NEW.reason IS NOT OLD.reason)
BEGIN
    SELECT RAISE(ABORT, 'a version keeps its record, number, change, author, proxy, entry time and reason');
END;

CREATE TRIGGER record_versions_move_forward
BEFORE UPDATE OF state ON record_versions
WHEN (OLD.state = 'draft' AND NEW.state NOT IN ('draft', 'final', 'discarded'))
    OR (OLD.state = 'pending_approval' AND NEW.state NOT IN ('pending_approval', 'final', 'rejected'))
BEGIN
    SELECT RAISE(ABORT, 'a draft becomes final or discarded, a proxy entry final or rejected');
END;
