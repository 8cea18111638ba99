-- Vendors' disclosures (MDS/SDS, `mamori_core::vendor`): a vendor's answer to every row of an MDS
-- or SDS catalog for one product, and a risk record for every いいえ (保守委託機関編 ch.3 10⑨),
-- changed only by new versions.
--
-- Counters are BIGINT bounded to a u32; lengths are counted in characters and match the core
-- rules (vendor and product 1 to 100, product version at most 50, JAHIS version 1 to 100, notes,
-- justification and mitigation at most 4000, remark at most 2000). Catalogs, items and codes
-- compare bytewise ("C"). A disclosure and its answers never change; a risk's current row changes
-- only by a new version (one conditional UPDATE from the previous version, with the version's
-- row), and versions never change. Nothing is ever deleted (triggers below, `TRUNCATE` included).
-- The foreign keys are named: the store tells from the name which reference is missing.

-- A disclosure. `entered_by` is empty when the operator imported it (`mamori vendor import`),
-- and so is the author of its risks' version 1; every later risk version names its user.
-- `generation` counts the disclosures of one vendor, product and catalog (1, 2, …;
-- unique, so two concurrent recordings of the same successor cannot both succeed); the highest is
-- current, the older ones stay readable.
CREATE TABLE vendor_disclosures (
    institution_id  UUID NOT NULL,
    id              UUID NOT NULL,
    vendor          TEXT COLLATE "C" NOT NULL CHECK (char_length(vendor) BETWEEN 1 AND 100),
    product         TEXT COLLATE "C" NOT NULL CHECK (char_length(product) BETWEEN 1 AND 100),
    product_version TEXT NOT NULL CHECK (char_length(product_version) <= 50),
    catalog         TEXT COLLATE "C" NOT NULL CHECK (catalog ~ '^[a-z0-9.-]{1,40}$'),
    jahis_version   TEXT NOT NULL CHECK (char_length(jahis_version) BETWEEN 1 AND 100),
    received_on     DATE NOT NULL,
    notes           TEXT NOT NULL CHECK (char_length(notes) <= 4000),
    generation      BIGINT NOT NULL CHECK (generation BETWEEN 1 AND 4294967295),
    entered_by      UUID,
    entered_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, id),
    CONSTRAINT vendor_disclosures_generation_unique
        UNIQUE (institution_id, vendor, product, catalog, generation),
    CONSTRAINT vendor_disclosures_entered_by_fkey
        FOREIGN KEY (institution_id, entered_by) REFERENCES users (institution_id, id)
);

CREATE INDEX vendor_disclosures_by_entry ON vendor_disclosures (institution_id, entered_at);

-- One answer per catalog row. The extra unique key lets a risk name the answer it is for
-- together with the answer itself (which must be 'no').
CREATE TABLE vendor_answers (
    institution_id  UUID NOT NULL,
    disclosure_id   UUID NOT NULL,
    item            TEXT COLLATE "C" NOT NULL
                    CHECK (char_length(item) BETWEEN 1 AND 100 AND item !~ '[\x01-\x1f\x7f-\x9f]'),
    answer          TEXT COLLATE "C" NOT NULL CHECK (answer IN ('yes', 'no', 'not_applicable')),
    remark          TEXT NOT NULL CHECK (char_length(remark) <= 2000),
    PRIMARY KEY (institution_id, disclosure_id, item),
    UNIQUE (institution_id, disclosure_id, item, answer),
    CONSTRAINT vendor_answers_disclosure_fkey
        FOREIGN KEY (institution_id, disclosure_id) REFERENCES vendor_disclosures (institution_id, id)
);

-- The current version of the risk record of each いいえ.
CREATE TABLE vendor_risks (
    institution_id  UUID NOT NULL,
    disclosure_id   UUID NOT NULL,
    item            TEXT COLLATE "C" NOT NULL,
    answer          TEXT COLLATE "C" NOT NULL DEFAULT 'no' CHECK (answer = 'no'),
    justification   TEXT NOT NULL CHECK (char_length(justification) <= 4000),
    owner           UUID,
    mitigation      TEXT NOT NULL CHECK (char_length(mitigation) <= 4000),
    expires_on      DATE,
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      UUID,
    changed_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, disclosure_id, item),
    CONSTRAINT vendor_risks_changed_by_a_user CHECK (changed_by IS NOT NULL OR version = 1),
    CONSTRAINT vendor_risks_answer_fkey
        FOREIGN KEY (institution_id, disclosure_id, item, answer)
        REFERENCES vendor_answers (institution_id, disclosure_id, item, answer),
    CONSTRAINT vendor_risks_owner_fkey
        FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    CONSTRAINT vendor_risks_changed_by_fkey
        FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
);

-- Every version of every risk record, version 1 (opened with the disclosure) included.
CREATE TABLE vendor_risk_versions (
    institution_id  UUID NOT NULL,
    disclosure_id   UUID NOT NULL,
    item            TEXT COLLATE "C" NOT NULL,
    justification   TEXT NOT NULL CHECK (char_length(justification) <= 4000),
    owner           UUID,
    mitigation      TEXT NOT NULL CHECK (char_length(mitigation) <= 4000),
    expires_on      DATE,
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    changed_by      UUID,
    changed_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, disclosure_id, item, version),
    CONSTRAINT vendor_risk_versions_changed_by_a_user CHECK (changed_by IS NOT NULL OR version = 1),
    CONSTRAINT vendor_risk_versions_risk_fkey
        FOREIGN KEY (institution_id, disclosure_id, item) REFERENCES vendor_risks (institution_id, disclosure_id, item),
    CONSTRAINT vendor_risk_versions_owner_fkey
        FOREIGN KEY (institution_id, owner) REFERENCES users (institution_id, id),
    CONSTRAINT vendor_risk_versions_changed_by_fkey
        FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
);

CREATE FUNCTION vendor_disclosures_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % on % is refused', TG_ARGV[0], TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER vendor_disclosures_append_only
    BEFORE UPDATE OR DELETE ON vendor_disclosures
    FOR EACH ROW EXECUTE FUNCTION vendor_disclosures_refuse('vendor disclosures are append-only');

CREATE TRIGGER vendor_disclosures_no_truncate
    BEFORE TRUNCATE ON vendor_disclosures
    FOR EACH STATEMENT EXECUTE FUNCTION vendor_disclosures_refuse('vendor disclosures are append-only');

CREATE TRIGGER vendor_answers_append_only
    BEFORE UPDATE OR DELETE ON vendor_answers
    FOR EACH ROW EXECUTE FUNCTION vendor_disclosures_refuse('vendor answers are append-only');

CREATE TRIGGER vendor_answers_no_truncate
    BEFORE TRUNCATE ON vendor_answers
    FOR EACH STATEMENT EXECUTE FUNCTION vendor_disclosures_refuse('vendor answers are append-only');

-- A risk's current row changes (by a new version, never its key) but is never deleted.
CREATE TRIGGER vendor_risks_key_fixed
    BEFORE UPDATE OF institution_id, disclosure_id, item, answer ON vendor_risks
    FOR EACH ROW EXECUTE FUNCTION vendor_disclosures_refuse('vendor risks keep their key');

CREATE TRIGGER vendor_risks_no_delete
    BEFORE DELETE ON vendor_risks
    FOR EACH ROW EXECUTE FUNCTION vendor_disclosures_refuse('vendor risks are never deleted');

CREATE TRIGGER vendor_risks_no_truncate
    BEFORE TRUNCATE ON vendor_risks
    FOR EACH STATEMENT EXECUTE FUNCTION vendor_disclosures_refuse('vendor risks are never deleted');

CREATE TRIGGER vendor_risk_versions_append_only
    BEFORE UPDATE OR DELETE ON vendor_risk_versions
    FOR EACH ROW EXECUTE FUNCTION vendor_disclosures_refuse('vendor risk versions are append-only');

CREATE TRIGGER vendor_risk_versions_no_truncate
    BEFORE TRUNCATE ON vendor_risk_versions
    FOR EACH STATEMENT EXECUTE FUNCTION vendor_disclosures_refuse('vendor risk versions are append-only');
