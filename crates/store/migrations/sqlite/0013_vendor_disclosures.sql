-- Vendors' disclosures (MDS/SDS, `mamori_core::vendor`): a vendor's answer to every row of an MDS
-- or SDS catalog for one product, and a risk record for every いいえ (保守委託機関編 ch.3 10⑨),
-- changed only by new versions.
--
-- Same conventions as 0001 to 0011 (UUID text, fixed-width UTC timestamps, `YYYY-MM-DD` dates,
-- STRICT tables, counters that fit a u32). Lengths match the core rules (vendor and product 1 to
-- 100, product version at most 50, JAHIS version 1 to 100, notes, justification and mitigation at
-- most 4000, remark at most 2000). A disclosure and its answers never change; a risk's current
-- row changes only by a new version (one conditional UPDATE from the previous version, with the
-- version's row), and versions never change. Nothing is ever deleted (triggers below).

-- A disclosure. `entered_by` is empty when the operator imported it (`mamori vendor import`),
-- and so is the author of its risks' version 1; every later risk version names its user.
-- `generation` counts the disclosures of one vendor, product and catalog (1, 2, …;
-- unique, so two concurrent recordings of the same successor cannot both succeed); the highest is
-- current, the older ones stay readable.
CREATE TABLE vendor_disclosures (
    institution_id  TEXT NOT NULL,
    id              TEXT NOT NULL CHECK (length(id) = 36 AND id = lower(id)),
    vendor          TEXT NOT NULL CHECK (length(vendor) BETWEEN 1 AND 100),
    product         TEXT NOT NULL CHECK (length(product) BETWEEN 1 AND 100),
    product_version TEXT NOT NULL CHECK (length(product_version) <= 50),
    catalog         TEXT NOT NULL
                    CHECK (length(catalog) BETWEEN 1 AND 40 AND catalog NOT GLOB '*[^a-z0-9.-]*'),
    jahis_version   TEXT NOT NULL CHECK (length(jahis_version) BETWEEN 1 AND 100),
    received_on     TEXT NOT NULL
                    CHECK (received_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    notes           TEXT NOT NULL CHECK (length(notes) <= 4000),
    generation      INTEGER NOT NULL CHECK (generation BETWEEN 1 AND 4294967295),
    entered_by      TEXT,
    entered_at      TEXT NOT NULL
                    CHECK (entered_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id),
    CONSTRAINT vendor_disclosures_generation_unique
        UNIQUE (institution_id, vendor, product, catalog, generation),
    FOREIGN KEY (institution_id, entered_by) REFERENCES users (institution_id, id)
) STRICT;

CREATE INDEX vendor_disclosures_by_entry ON vendor_disclosures (institution_id, entered_at);

-- One answer per catalog row. The extra unique key lets a risk name the answer it is for
-- together with the answer itself (which must be 'no').
CREATE TABLE vendor_answers (
    institution_id  TEXT NOT NULL,
    disclosure_id   TEXT NOT NULL,
    item            TEXT NOT NULL
                    CHECK (length(item) BETWEEN 1 AND 100
                           AND item NOT GLOB ('*[' || char(1) || '-' || char(31) || char(127) || '-' || char(159) || ']*')
                           AND instr(item, char(0)) = 0),
    answer          TEXT NOT NULL CHECK (answer IN ('yes', 'no', 'not_applicable')),
    remark          TEXT NOT NULL CHECK (length(remark) <= 2000),
    PRIMARY KEY (institution_id, disclosure_id, item),
    UNIQUE (institution_id, disclosure_id, item, answer),
    FOREIGN KEY (institution_id, disclosure_id) REFERENCES vendor_disclosures (institution_id, id)
) STRICT;

-- The current version of the risk record of each いいえ.
CREATE TABLE vendor_risks (
    institution_id  TEXT NOT NULL,
    disclosure_id   TEXT NOT NULL,
    item            TEXT NOT NULL,
    answer          TEXT NOT NULL DEFAULT 'no' CHECK (answer = 'no'),
    justification   TEXT NOT NULL CHECK (length(justification) <= 4000),
    owner           TEXT,
    mitigation      TEXT NOT NULL CHECK (length(mitigation) <= 4000),
    expires_on      TEXT CHECK (expires_on IS NULL OR expires_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      TEXT,
    changed_at      TEXT NOT NULL
                    CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, disclosure_id, item),
    CONSTRAINT vendor_risks_changed_by_a_user CHECK (changed_by IS NOT NULL OR version = 1),
    FOREIGN KEY (institution_id, disclosure_id, item, answer)
        REFERENCES vendor_answers (institution_id, disclosure_id, item, answer),
    FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
) STRICT;

-- Every version of every risk record, version 1 (opened with the disclosure) included.
CREATE TABLE vendor_risk_versions (
    institution_id  TEXT NOT NULL,
    disclosure_id   TEXT NOT NULL,
    item            TEXT NOT NULL,
    justification   TEXT NOT NULL CHECK (length(justification) <= 4000),
    owner           TEXT,
    mitigation      TEXT NOT NULL CHECK (length(mitigation) <= 4000),
    expires_on      TEXT CHECK (expires_on IS NULL OR expires_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      TEXT,
    changed_at      TEXT NOT NULL
                    CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, disclosure_id, item, version),
    CONSTRAINT vendor_risk_versions_changed_by_a_user CHECK (changed_by IS NOT NULL OR version = 1),
    FOREIGN KEY (institution_id, disclosure_id, item) REFERENCES vendor_risks (institution_id, disclosure_id, item),
    FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
) STRICT;

CREATE TRIGGER vendor_disclosures_no_update BEFORE UPDATE ON vendor_disclosures
BEGIN
    SELECT RAISE(ABORT, 'vendor disclosures are append-only: a disclosure is never changed');
END;

CREATE TRIGGER vendor_disclosures_no_delete BEFORE DELETE ON vendor_disclosures
BEGIN
    SELECT RAISE(ABORT, 'vendor disclosures are append-only: a disclosure is never deleted');
END;

CREATE TRIGGER vendor_answers_no_update BEFORE UPDATE ON vendor_answers
BEGIN
    SELECT RAISE(ABORT, 'vendor answers are append-only: an answer is never changed');
END;

CREATE TRIGGER vendor_answers_no_delete BEFORE DELETE ON vendor_answers
BEGIN
    SELECT RAISE(ABORT, 'vendor answers are append-only: an answer is never deleted');
END;

-- A risk's current row changes (by a new version, never its key) but is never deleted.
CREATE TRIGGER vendor_risks_key_fixed
BEFORE UPDATE OF institution_id, disclosure_id, item, answer ON vendor_risks
BEGIN
    SELECT RAISE(ABORT, 'vendor risks keep their key');
END;

CREATE TRIGGER vendor_risks_no_delete BEFORE DELETE ON vendor_risks
BEGIN
    SELECT RAISE(ABORT, 'vendor risks are never deleted');
END;

CREATE TRIGGER vendor_risk_versions_no_update BEFORE UPDATE ON vendor_risk_versions
BEGIN
    SELECT RAISE(ABORT, 'vendor risk versions are append-only: a version is never changed');
END;

CREATE TRIGGER vendor_risk_versions_no_delete BEFORE DELETE ON vendor_risk_versions
BEGIN
    SELECT RAISE(ABORT, 'vendor risk versions are append-only: a version is never deleted');
END;
