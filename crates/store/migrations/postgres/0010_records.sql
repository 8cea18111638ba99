-- Clinical records (the records issue, `mamori_core::record` and `mamori_core::master`): the
-- institution's master entries, its registered devices, its records and every version of them;
-- and the log, whose leaves may now be finalized record versions as well as audit events.
--
-- Counters are BIGINT bounded to a u32; lengths are counted in characters and match the core
-- rules. Codes, names and enumerations compare bytewise ("C"), as in SQLite. Nothing here has
-- a delete path, in the store or in the schema (triggers below, `TRUNCATE` included); master
-- entries and records never change, a device changes once (its revocation), and a version
-- changes only while it is a draft or pending approval: a version that is final, discarded or
-- rejected never changes again.

-- The log's leaves may be record versions (`kind = 'record'`). 0008 left the check unnamed;
-- PostgreSQL named it `log_leaves_kind_check`, the name it now has explicitly.
ALTER TABLE log_leaves DROP CONSTRAINT log_leaves_kind_check;
ALTER TABLE log_leaves ADD CONSTRAINT log_leaves_kind_check CHECK (kind IN ('audit', 'record'));

-- One version of one entry of the institution's master (drugs, diseases, lab items): a code's
-- versions are numbered from 1, each valid from `valid_from` (inclusive) to `valid_to`
-- (exclusive; NULL: open-ended). A record keeps the version it used, so entries never change;
-- an import adds versions. `imported_by` is NULL for the sample master `mamori init` loads.
-- The primary key is also the index by (institution, master, code) that lookups and searches
-- go through.
CREATE TABLE master_entries (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    master          TEXT COLLATE "C" NOT NULL CHECK (master IN ('drug', 'disease', 'lab_item')),
    -- 1 to 20 of A-Z, a-z, 0-9, '.', '_', '-'.
    code            TEXT COLLATE "C" NOT NULL CHECK (code ~ '^[A-Za-z0-9._-]{1,20}$'),
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    name            TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    unit            TEXT CHECK (unit IS NULL OR char_length(unit) BETWEEN 1 AND 20),
    reference_range TEXT CHECK (reference_range IS NULL OR char_length(reference_range) BETWEEN 1 AND 30),
    valid_from      DATE NOT NULL,
    valid_to        DATE,
    imported_at     TIMESTAMPTZ NOT NULL,
    imported_by     UUID,
    PRIMARY KEY (institution_id, master, code, version),
    CONSTRAINT master_entries_imported_by_fkey
        FOREIGN KEY (institution_id, imported_by) REFERENCES users (institution_id, id),
    CONSTRAINT master_entries_valid_to_after_valid_from CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- A registered device (MDS 17): an analyzer or another system that sends results with a bearer
-- token, kept only as its SHA-256. Token hashes are unique across the whole deployment (a
-- device is found by its token alone, then names its institution), names within the
-- institution. There is no delete path: a revoked device keeps its row (its results name it),
-- and revocation is its only change, made once (trigger below).
CREATE TABLE devices (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    id              UUID NOT NULL,
    name            TEXT COLLATE "C" NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash      BYTEA NOT NULL CHECK (octet_length(token_hash) = 32),
    registered_by   UUID NOT NULL,
    registered_at   TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ,
    PRIMARY KEY (institution_id, id),
    CONSTRAINT devices_name_key UNIQUE (institution_id, name),
    CONSTRAINT devices_token_hash_key UNIQUE (token_hash),
    CONSTRAINT devices_registered_by_fkey
        FOREIGN KEY (institution_id, registered_by) REFERENCES users (institution_id, id),
    CONSTRAINT devices_revoked_after_registered CHECK (revoked_at IS NULL OR revoked_at >= registered_at)
);

-- A record: what never changes once it is created (its patient, kind, category and creator, a
-- user or a device: exactly one). The patient's foreign key names the institution, so the
-- institution exists too. The index serves a patient's chart, oldest record first. The
-- foreign keys are named: the store tells from the name which reference is missing.
CREATE TABLE records (
    institution_id    UUID NOT NULL,
    id                UUID NOT NULL,
    patient_id        UUID NOT NULL,
    kind              TEXT COLLATE "C" NOT NULL
                      CHECK (kind IN ('progress_note', 'diagnosis', 'prescription', 'lab_result', 'document')),
    -- As `mamori_core::authz::Category::parse` (and `log_leaves.category`).
    category          TEXT COLLATE "C" NOT NULL CHECK (category ~ '^[a-z][a-z0-9_]{0,39}$'),
    created_by_user   UUID,
    created_by_device UUID,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, id),
    CONSTRAINT records_patient_fkey
        FOREIGN KEY (institution_id, patient_id) REFERENCES patients (institution_id, id),
    CONSTRAINT records_created_by_user_fkey
        FOREIGN KEY (institution_id, created_by_user) REFERENCES users (institution_id, id),
    CONSTRAINT records_created_by_device_fkey
        FOREIGN KEY (institution_id, created_by_device) REFERENCES devices (institution_id, id),
    CONSTRAINT records_one_creator CHECK ((created_by_user IS NULL) <> (created_by_device IS NULL))
);

CREATE INDEX records_by_patient ON records (institution_id, patient_id, created_at);

-- Every version of a record. `content` is the canonical JSON of the content
-- (`mamori_core::record::Content::canonical`), kept as text and not as JSONB, which would
-- reorder and normalize it: what was hashed into a final version's leaf is what is stored,
-- byte for byte. The author and the finalizer are each a user or a device (exactly one); a
-- proxy entry (代行入力) names the doctor it was entered for, who approves (finalizes) or
-- rejects it.
--
-- The states: a draft (its author edits it, then finalizes or discards it), pending approval
-- (its doctor approves or rejects it), final (with its finalizer, time and the index of its
-- leaf in the institution's log, unique there), discarded, rejected (with who and why).
-- Version 1 is the original; every later version is a correction or a cancellation, final at
-- once, with its reason.
CREATE TABLE record_versions (
    institution_id      UUID NOT NULL,
    record_id           UUID NOT NULL,
    version             BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    change              TEXT COLLATE "C" NOT NULL CHECK (change IN ('original', 'correction', 'cancellation')),
    state               TEXT COLLATE "C" NOT NULL
                        CHECK (state IN ('draft', 'pending_approval', 'final', 'discarded', 'rejected')),
    content             TEXT NOT NULL CHECK (char_length(content) BETWEEN 1 AND 200000),
    reason              TEXT CHECK (reason IS NULL OR char_length(reason) BETWEEN 1 AND 500),
    author_user         UUID,
    author_device       UUID,
    proxy_for           UUID,
    entered_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    finalized_by_user   UUID,
    finalized_by_device UUID,
    finalized_at        TIMESTAMPTZ,
    leaf_index          BIGINT CHECK (leaf_index IS NULL OR leaf_index >= 0),
    rejected_by         UUID,
    reject_reason       TEXT CHECK (reject_reason IS NULL OR char_length(reject_reason) BETWEEN 1 AND 500),
    PRIMARY KEY (institution_id, record_id, version),
    CONSTRAINT record_versions_record_fkey
        FOREIGN KEY (institution_id, record_id) REFERENCES records (institution_id, id),
    CONSTRAINT record_versions_author_user_fkey
        FOREIGN KEY (institution_id, author_user) REFERENCES users (institution_id, id),
    CONSTRAINT record_versions_author_device_fkey
        FOREIGN KEY (institution_id, author_device) REFERENCES devices (institution_id, id),
    CONSTRAINT record_versions_proxy_for_fkey
        FOREIGN KEY (institution_id, proxy_for) REFERENCES users (institution_id, id),
    CONSTRAINT record_versions_finalized_by_user_fkey
        FOREIGN KEY (institution_id, finalized_by_user) REFERENCES users (institution_id, id),
    CONSTRAINT record_versions_finalized_by_device_fkey
        FOREIGN KEY (institution_id, finalized_by_device) REFERENCES devices (institution_id, id),
    CONSTRAINT record_versions_rejected_by_fkey
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
);

-- A doctor's approval queue, oldest entry first.
CREATE INDEX record_versions_approval_queue ON record_versions (institution_id, proxy_for, entered_at)
    WHERE state = 'pending_approval';

-- What has no update or delete path refuses them, whatever statement tries (TRUNCATE included,
-- which skips row triggers); the trigger's argument says what.
CREATE FUNCTION records_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % on % is refused', TG_ARGV[0], TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Master entries never change and are never deleted.
CREATE TRIGGER master_entries_append_only
    BEFORE UPDATE OR DELETE ON master_entries
    FOR EACH ROW
    EXECUTE FUNCTION records_refuse('master entries are append-only');

CREATE TRIGGER master_entries_no_truncate
    BEFORE TRUNCATE ON master_entries
    FOR EACH STATEMENT
    EXECUTE FUNCTION records_refuse('master entries are append-only');

-- A device is never deleted; its only change is its revocation, once.
CREATE TRIGGER devices_no_delete
    BEFORE DELETE ON devices
    FOR EACH ROW
    EXECUTE FUNCTION records_refuse('devices are never deleted');

CREATE TRIGGER devices_no_truncate
    BEFORE TRUNCATE ON devices
    FOR EACH STATEMENT
    EXECUTE FUNCTION records_refuse('devices are never deleted');

CREATE FUNCTION devices_change_only_by_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL
        OR NEW.institution_id IS DISTINCT FROM OLD.institution_id OR NEW.id IS DISTINCT FROM OLD.id
        OR NEW.name IS DISTINCT FROM OLD.name OR NEW.token_hash IS DISTINCT FROM OLD.token_hash
        OR NEW.registered_by IS DISTINCT FROM OLD.registered_by
        OR NEW.registered_at IS DISTINCT FROM OLD.registered_at
    THEN
        RAISE EXCEPTION 'a device changes only once, by its revocation' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER devices_change_only_by_revocation
    BEFORE UPDATE ON devices
    FOR EACH ROW
    EXECUTE FUNCTION devices_change_only_by_revocation();

-- Records never change and are never deleted.
CREATE TRIGGER records_append_only
    BEFORE UPDATE OR DELETE ON records
    FOR EACH ROW
    EXECUTE FUNCTION records_refuse('clinical records are append-only');

CREATE TRIGGER records_no_truncate
    BEFORE TRUNCATE ON records
    FOR EACH STATEMENT
    EXECUTE FUNCTION records_refuse('clinical records are append-only');

-- Versions are never deleted. A version that is final, discarded or rejected never changes;
-- one that is a draft or pending approval keeps what it is (record, number, change, author,
-- proxy, entry time, reason) and moves only as the model says: a draft to final or
-- discarded, a proxy entry to final or rejected.
CREATE TRIGGER record_versions_no_delete
    BEFORE DELETE ON record_versions
    FOR EACH ROW
    EXECUTE FUNCTION records_refuse('clinical records are append-only');

CREATE TRIGGER record_versions_no_truncate
    BEFORE TRUNCATE ON record_versions
    FOR EACH STATEMENT
    EXECUTE FUNCTION records_refuse('clinical records are append-only');

CREATE FUNCTION record_versions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state NOT IN ('draft', 'pending_approval') THEN
        RAISE EXCEPTION 'a finalized, discarded or rejected version never changes'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.institution_id IS DISTINCT FROM OLD.institution_id OR NEW.record_id IS DISTINCT FROM OLD.record_id
        OR NEW.version IS DISTINCT FROM OLD.version OR NEW.change IS DISTINCT FROM OLD.change
        OR NEW.author_user IS DISTINCT FROM OLD.author_user OR NEW.author_device IS DISTINCT FROM OLD.author_device
        OR NEW.proxy_for IS DISTINCT FROM OLD.proxy_for OR NEW.entered_at IS DISTINCT FROM OLD.entered_at
        OR NEW.reason IS DISTINCT FROM OLD.reason
    THEN
        RAISE EXCEPTION 'a version keeps its record, number, change, author, proxy, entry time and reason'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (OLD.state = 'draft' AND NEW.state NOT IN ('draft', 'final', 'discarded'))
        OR (OLD.state = 'pending_approval' AND NEW.state NOT IN ('pending_approval', 'final', 'rejected'))
    THEN
        RAISE EXCEPTION 'a draft becomes final or discarded, a proxy entry final or rejected'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER record_versions_guard
    BEFORE UPDATE ON record_versions
    FOR EACH ROW
    EXECUTE FUNCTION record_versions_guard();
