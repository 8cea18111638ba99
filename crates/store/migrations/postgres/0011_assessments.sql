-- Assessments (自己点検, `mamori_core::assessment`): an institution works through a catalog version
-- item by item. Each assessment has the current version of each of its items, every version of
-- every item, and the evidence for its items, revision by revision.
--
-- Counters are BIGINT bounded to a u32; lengths are counted in characters and match the core
-- rules (catalog 1 to 40 of a-z, 0-9, '.', '-'; title 1 to 100; item 1 to 100 without control
-- characters; notes at most 4000; evidence title and file name 1 to 200; URL https, at most
-- 2000). Catalogs, items and enumerations compare bytewise ("C"), as in SQLite. Nothing here has
-- a delete path, in the store or in the schema (triggers below, `TRUNCATE` included); an
-- assessment never changes, an item changes only by a new version (one conditional UPDATE of its
-- current row, from the previous version, with the version's row), and item versions and
-- evidence revisions never change. The foreign keys are named: the store tells from the name
-- which reference is missing.

-- An assessment: one catalog version, one period. `carried_from` is the assessment of the same
-- institution it was carried over from (last year's). The creator's foreign key names the
-- institution, so the institution exists too. The index serves the list, newest first.
CREATE TABLE assessments (
    institution_id  UUID NOT NULL,
    id              UUID NOT NULL,
    catalog         TEXT COLLATE "C" NOT NULL CHECK (catalog ~ '^[a-z0-9.-]{1,40}$'),
    title           TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 100),
    period_start    DATE NOT NULL,
    period_end      DATE NOT NULL,
    carried_from    UUID,
    created_by      UUID NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, id),
    CONSTRAINT assessments_carried_from_fkey
        FOREIGN KEY (institution_id, carried_from) REFERENCES assessments (institution_id, id),
    CONSTRAINT assessments_created_by_fkey
        FOREIGN KEY (institution_id, created_by) REFERENCES users (institution_id, id),
    CONSTRAINT assessments_period_ends_after_it_starts CHECK (period_end >= period_start)
);

CREATE INDEX assessments_by_creation ON assessments (institution_id, created_at);

-- The current version of each item of an assessment: its state (未着手, 対応中, 対応済, 対象外),
-- owner (a user of the institution), due date, next review and notes. The item is the catalog's
-- item ID, kept as given: 1 to 100 characters, none of them a control character. A change is one
-- conditional UPDATE from the previous version (`version = new - 1`); the primary key is also
-- the index the list goes through, by item.
CREATE TABLE assessment_items (
    institution_id  UUID NOT NULL,
    assessment_id   UUID NOT NULL,
    item            TEXT COLLATE "C" NOT NULL
                    CHECK (char_length(item) BETWEEN 1 AND 100 AND item !~ '[\x01-\x1f\x7f-\x9f]'),
    state           TEXT COLLATE "C" NOT NULL
                    CHECK (state IN ('not_started', 'in_progress', 'done', 'not_applicable')),
    owner           UUID,
    due_on          DATE,
    next_review_on  DATE,
    notes           TEXT NOT NULL CHECK (char_length(notes) <= 4000),
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      UUID NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, assessment_id, item),
    CONSTRAINT assessment_items_assessment_fkey
        FOREIGN KEY (institution_id, assessment_id) REFERENCES assessments (institution_id, id),
    CONSTRAINT assessment_items_owner_fkey
        FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    CONSTRAINT assessment_items_changed_by_fkey
        FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
);

-- Every version of every item, the first (version 1, written with the assessment) included.
CREATE TABLE assessment_item_versions (
    institution_id  UUID NOT NULL,
    assessment_id   UUID NOT NULL,
    item            TEXT COLLATE "C" NOT NULL,
    state           TEXT COLLATE "C" NOT NULL
                    CHECK (state IN ('not_started', 'in_progress', 'done', 'not_applicable')),
    owner           UUID,
    due_on          DATE,
    next_review_on  DATE,
    notes           TEXT NOT NULL CHECK (char_length(notes) <= 4000),
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      UUID NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, assessment_id, item, version),
    CONSTRAINT assessment_item_versions_item_fkey
        FOREIGN KEY (institution_id, assessment_id, item)
        REFERENCES assessment_items (institution_id, assessment_id, item),
    CONSTRAINT assessment_item_versions_owner_fkey
        FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    CONSTRAINT assessment_item_versions_changed_by_fkey
        FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
);

-- One revision of a piece of evidence for an item: a file kept by mamori (its name, the SHA-256
-- of its bytes and its size, all three) or a link (an https URL), exactly one; its owner, the
-- day it takes effect and the day it expires (after it takes effect). A new revision never
-- replaces an old one. The list goes by item, evidence ID, then revision (the index).
CREATE TABLE evidence (
    institution_id  UUID NOT NULL,
    id              UUID NOT NULL,
    revision        BIGINT NOT NULL CHECK (revision BETWEEN 1 AND 4294967295),
    assessment_id   UUID NOT NULL,
    item            TEXT COLLATE "C" NOT NULL,
    title           TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    kind            TEXT COLLATE "C" NOT NULL CHECK (kind IN ('file', 'link')),
    file_name       TEXT CHECK (file_name IS NULL OR char_length(file_name) BETWEEN 1 AND 200),
    file_sha256     BYTEA CHECK (file_sha256 IS NULL OR octet_length(file_sha256) = 32),
    file_size       BIGINT CHECK (file_size IS NULL OR file_size >= 0),
    url             TEXT COLLATE "C"
                    CHECK (url IS NULL OR (url LIKE 'https://_%' AND char_length(url) <= 2000)),
    owner           UUID,
    effective_on    DATE,
    expires_on      DATE,
    added_by        UUID NOT NULL,
    added_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, id, revision),
    CONSTRAINT evidence_item_fkey
        FOREIGN KEY (institution_id, assessment_id, item)
        REFERENCES assessment_items (institution_id, assessment_id, item),
    CONSTRAINT evidence_owner_fkey
        FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    CONSTRAINT evidence_added_by_fkey
        FOREIGN KEY (institution_id, added_by) REFERENCES users (institution_id, id),
    CONSTRAINT evidence_file_or_link CHECK (
        (kind = 'file' AND file_name IS NOT NULL AND file_sha256 IS NOT NULL AND file_size IS NOT NULL
         AND url IS NULL)
        OR (kind = 'link' AND url IS NOT NULL
            AND file_name IS NULL AND file_sha256 IS NULL AND file_size IS NULL)
    ),
    CONSTRAINT evidence_expires_after_effective
        CHECK (effective_on IS NULL OR expires_on IS NULL OR expires_on > effective_on)
);

CREATE INDEX evidence_by_item ON evidence (institution_id, assessment_id, item, id, revision);

-- What has no update or delete path refuses them, whatever statement tries (TRUNCATE included,
-- which skips row triggers); the trigger's argument says what.
CREATE FUNCTION assessments_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % on % is refused', TG_ARGV[0], TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Assessments never change and are never deleted.
CREATE TRIGGER assessments_append_only
    BEFORE UPDATE OR DELETE ON assessments
    FOR EACH ROW
    EXECUTE FUNCTION assessments_refuse('assessments are append-only');

CREATE TRIGGER assessments_no_truncate
    BEFORE TRUNCATE ON assessments
    FOR EACH STATEMENT
    EXECUTE FUNCTION assessments_refuse('assessments are append-only');

-- An item's current row changes (by a new version) but is never deleted.
CREATE TRIGGER assessment_items_no_delete
    BEFORE DELETE ON assessment_items
    FOR EACH ROW
    EXECUTE FUNCTION assessments_refuse('assessment items are never deleted');

CREATE TRIGGER assessment_items_no_truncate
    BEFORE TRUNCATE ON assessment_items
    FOR EACH STATEMENT
    EXECUTE FUNCTION assessments_refuse('assessment items are never deleted');

-- Item versions and evidence revisions never change and are never deleted.
CREATE TRIGGER assessment_item_versions_append_only
    BEFORE UPDATE OR DELETE ON assessment_item_versions
    FOR EACH ROW
    EXECUTE FUNCTION assessments_refuse('assessment item versions are append-only');

CREATE TRIGGER assessment_item_versions_no_truncate
    BEFORE TRUNCATE ON assessment_item_versions
    FOR EACH STATEMENT
    EXECUTE FUNCTION assessments_refuse('assessment item versions are append-only');

CREATE TRIGGER evidence_append_only
    BEFORE UPDATE OR DELETE ON evidence
    FOR EACH ROW
    EXECUTE FUNCTION assessments_refuse('evidence is append-only');

CREATE TRIGGER evidence_no_truncate
    BEFORE TRUNCATE ON evidence
    FOR EACH STATEMENT
    EXECUTE FUNCTION assessments_refuse('evidence is append-only');
