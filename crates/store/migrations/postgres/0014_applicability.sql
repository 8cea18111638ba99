-- Applicability decisions (適用判断): an institution's answers to an applicability flowchart
-- (図1 of the 保守委託機関編), the outcome, and the contract or SLA clause the answers rest on.
-- Versioned per institution (1, 2, …) and append-only: a new answer is the next version, and no
-- version is ever changed or deleted, TRUNCATE included (triggers below). Answers are canonical
-- JSON text ({"question-id":true}), kept as written (TEXT, not JSONB, so the bytes read back are
-- the bytes written); the store parses them back with mamori_core::applicability.

CREATE TABLE applicability_decisions (
    institution_id  UUID NOT NULL,
    version         BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    flowchart       TEXT COLLATE "C" NOT NULL CHECK (flowchart ~ '^[a-z0-9./-]{1,100}$'),
    answers         TEXT NOT NULL CHECK (jsonb_typeof(answers::jsonb) = 'object'),
    outcome         TEXT COLLATE "C" NOT NULL CHECK (outcome ~ '^[a-z0-9-]{1,100}$'),
    applies         BOOLEAN NOT NULL,
    basis           TEXT NOT NULL CHECK (char_length(basis) <= 1000),
    notes           TEXT NOT NULL CHECK (char_length(notes) <= 4000),
    decided_by      UUID NOT NULL,
    decided_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, version),
    CONSTRAINT applicability_decisions_decided_by_fkey
        FOREIGN KEY (institution_id, decided_by) REFERENCES users (institution_id, id)
);

CREATE FUNCTION applicability_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'applicability decisions are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER applicability_decisions_append_only
    BEFORE UPDATE OR DELETE ON applicability_decisions
    FOR EACH ROW
    EXECUTE FUNCTION applicability_refuse();

CREATE TRIGGER applicability_decisions_no_truncate
    BEFORE TRUNCATE ON applicability_decisions
    FOR EACH STATEMENT
    EXECUTE FUNCTION applicability_refuse();
