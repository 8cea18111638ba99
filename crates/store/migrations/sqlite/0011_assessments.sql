-- Assessments (自己点検, `mamori_core::assessment`): an institution works through a catalog version
-- item by item. Each assessment has the current version of each of its items, every version of
-- every item, and the evidence for its items, revision by revision.
--
-- Same conventions as 0001 to 0010: lower-case hyphenated UUID text, UTC timestamps with
-- exactly six fractional digits, STRICT tables, counters that fit a u32, dates as `YYYY-MM-DD`
-- text (which compare as dates). Lengths are counted in characters and match the core rules
-- (catalog 1 to 40 of a-z, 0-9, '.', '-'; title 1 to 100; item 1 to 100 without control
-- characters; notes at most 4000; evidence title and file name 1 to 200; URL https, at most
-- 2000). Nothing here has a delete path, in the store or in the schema (triggers below); an
-- assessment never changes, an item changes only by a new version (one conditional UPDATE of its
-- current row, from the previous version, with the version's row), and item versions and
-- evidence revisions never change.

-- An assessment: one catalog version, one period. `carried_from` is the assessment of the same
-- institution it was carried over from (last year's). The creator's foreign key names the
-- institution, so the institution exists too. The index serves the list, newest first.
CREATE TABLE assessments (
    institution_id  TEXT NOT NULL,
    id              TEXT NOT NULL
                    CHECK (length(id) = 36 AND id = lower(id)),
    catalog         TEXT NOT NULL
                    CHECK (length(catalog) BETWEEN 1 AND 40 AND catalog NOT GLOB '*[^a-z0-9.-]*'),
    title           TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    period_start    TEXT NOT NULL
                    CHECK (period_start GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    period_end      TEXT NOT NULL
                    CHECK (period_end GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    carried_from    TEXT,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL
                    CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id),
    FOREIGN KEY (institution_id, carried_from) REFERENCES assessments (institution_id, id),
    FOREIGN KEY (institution_id, created_by) REFERENCES users (institution_id, id),
    CONSTRAINT assessments_period_ends_after_it_starts CHECK (period_end >= period_start)
) STRICT;

CREATE INDEX assessments_by_creation ON assessments (institution_id, created_at);

-- The current version of each item of an assessment: its state (未着手, 対応中, 対応済, 対象外),
-- owner (a user of the institution), due date, next review and notes. The item is the catalog's
-- item ID, kept as given: 1 to 100 characters, none of them a control character. A change is one
-- conditional UPDATE from the previous version (`version = new - 1`); the primary key is also
-- the index the list goes through, by item.
CREATE TABLE assessment_items (
    institution_id  TEXT NOT NULL,
    assessment_id   TEXT NOT NULL,
    item            TEXT NOT NULL
                    CHECK (length(item) BETWEEN 1 AND 100
                           AND item NOT GLOB ('*[' || char(1) || '-' || char(31) || char(127) || '-' || char(159) || ']*')
                           AND instr(item, char(0)) = 0),
    state           TEXT NOT NULL CHECK (state IN ('not_started', 'in_progress', 'done', 'not_applicable')),
    owner           TEXT,
    due_on          TEXT CHECK (due_on IS NULL OR due_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    next_review_on  TEXT
                    CHECK (next_review_on IS NULL OR next_review_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    notes           TEXT NOT NULL CHECK (length(notes) <= 4000),
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      TEXT NOT NULL,
    changed_at      TEXT NOT NULL
                    CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, assessment_id, item),
    FOREIGN KEY (institution_id, assessment_id) REFERENCES assessments (institution_id, id),
    FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
) STRICT;

-- Every version of every item, the first (version 1, written with the assessment) included.
CREATE TABLE assessment_item_versions (
    institution_id  TEXT NOT NULL,
    assessment_id   TEXT NOT NULL,
    item            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('not_started', 'in_progress', 'done', 'not_applicable')),
    owner           TEXT,
    due_on          TEXT CHECK (due_on IS NULL OR due_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    next_review_on  TEXT
                    CHECK (next_review_on IS NULL OR next_review_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    notes           TEXT NOT NULL CHECK (length(notes) <= 4000),
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      TEXT NOT NULL,
    changed_at      TEXT NOT NULL
                    CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, assessment_id, item, version),
    FOREIGN KEY (institution_id, assessment_id, item)
        REFERENCES assessment_items (institution_id, assessment_id, item),
    FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
) STRICT;

-- One revision of a piece of evidence for an item: a file kept by mamori (its name, the SHA-256
-- of its bytes and its size, all three) or a link (an https URL), exactly one; its owner, the
-- day it takes effect and the day it expires (after it takes effect). A new revision never
-- replaces an old one. The list goes by item, evidence ID, then revision (the index).
CREATE TABLE evidence (
    institution_id  TEXT NOT NULL,
    id              TEXT NOT NULL
                    CHECK (length(id) = 36 AND id = lower(id)),
    revision        INTEGER NOT NULL CHECK (revision BETWEEN 1 AND 4294967295),
    assessment_id   TEXT NOT NULL,
    item            TEXT NOT NULL,
    title           TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    kind            TEXT NOT NULL CHECK (kind IN ('file', 'link')),
    file_name       TEXT CHECK (file_name IS NULL OR length(file_name) BETWEEN 1 AND 200),
    file_sha256     BLOB CHECK (file_sha256 IS NULL OR length(file_sha256) = 32),
    file_size       INTEGER CHECK (file_size IS NULL OR file_size >= 0),
    url             TEXT
                    CHECK (url IS NULL OR (url GLOB 'https://?*' AND length(url) <= 2000)),
    owner           TEXT,
    effective_on    TEXT
                    CHECK (effective_on IS NULL OR effective_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    expires_on      TEXT
                    CHECK (expires_on IS NULL OR expires_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    added_by        TEXT NOT NULL,
    added_at        TEXT NOT NULL
                    CHECK (added_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id, revision),
    FOREIGN KEY (institution_id, assessment_id, item)
        REFERENCES assessment_items (institution_id, assessment_id, item),
    FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, added_by) REFERENCES users (institution_id, id),
    CONSTRAINT evidence_file_or_link CHECK (
        (kind = 'file' AND file_name IS NOT NULL AND file_sha256 IS NOT NULL AND file_size IS NOT NULL
         AND url IS NULL)
        OR (kind = 'link' AND url IS NOT NULL
            AND file_name IS NULL AND file_sha256 IS NULL AND file_size IS NULL)
    ),
    CONSTRAINT evidence_expires_after_effective
        CHECK (effective_on IS NULL OR expires_on IS NULL OR expires_on > effective_on)
) STRICT;

CREATE INDEX evidence_by_item ON evidence (institution_id, assessment_id, item, id, revision);

-- Assessments never change and are never deleted.
CREATE TRIGGER assessments_no_update
BEFORE UPDATE ON assessments
BEGIN
    SELECT RAISE(ABORT, 'assessments are append-only: an assessment is never changed');
END;

CREATE TRIGGER assessments_no_delete
BEFORE DELETE ON assessments
BEGIN
    SELECT RAISE(ABORT, 'assessments are append-only: an assessment is never deleted');
END;

-- An item's current row changes (by a new version) but is never deleted.
CREATE TRIGGER assessment_items_no_delete
BEFORE DELETE ON assessment_items
BEGIN
    SELECT RAISE(ABORT, 'assessment items are never deleted');
END;

-- Item versions and evidence revisions never change and are never deleted.
CREATE TRIGGER assessment_item_versions_no_update
BEFORE UPDATE ON assessment_item_versions
BEGIN
    SELECT RAISE(ABORT, 'assessment item versions are append-only: a version is never changed');
END;

CREATE TRIGGER assessment_item_versions_no_delete
BEFORE DELETE ON assessment_item_versions
BEGIN
    SELECT RAISE(ABORT, 'assessment item versions are append-only: a version is never deleted');
END;

CREATE TRIGGER evidence_no_update
BEFORE UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is append-only: a revision is never changed');
END;

CREATE TRIGGER evidence_no_delete
BEFORE DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is append-only: a revision is never deleted');
END;
