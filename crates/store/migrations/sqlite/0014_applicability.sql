-- Applicability decisions (適用判断): an institution's answers to an applicability flowchart
-- (図1 of the 保守委託機関編), the outcome, and the contract or SLA clause the answers rest on.
-- Versioned per institution (1, 2, …) and append-only: a new answer is the next version, and no
-- version is ever changed or deleted (triggers below). Answers are canonical JSON
-- ({"question-id":true}); the store parses them back with mamori_core::applicability.

CREATE TABLE applicability_decisions (
    institution_id  TEXT NOT NULL,
    version         INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    flowchart       TEXT NOT NULL
                    CHECK (length(flowchart) BETWEEN 1 AND 100 AND flowchart NOT GLOB '*[^a-z0-9./-]*'),
    answers         TEXT NOT NULL CHECK (json_valid(answers) AND json_type(answers) = 'object'),
    outcome         TEXT NOT NULL CHECK (length(outcome) BETWEEN 1 AND 100 AND outcome NOT GLOB '*[^a-z0-9-]*'),
    applies         INTEGER NOT NULL CHECK (applies IN (0, 1)),
    basis           TEXT NOT NULL CHECK (length(basis) <= 1000),
    notes           TEXT NOT NULL CHECK (length(notes) <= 4000),
    decided_by      TEXT NOT NULL,
    decided_at      TEXT NOT NULL
                    CHECK (decided_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, version),
    FOREIGN KEY (institution_id, decided_by) REFERENCES users (institution_id, id)
) STRICT;

CREATE TRIGGER applicability_decisions_no_update
BEFORE UPDATE ON applicability_decisions
BEGIN
    SELECT RAISE(ABORT, 'applicability decisions are append-only: a decision is never changed');
END;

CREATE TRIGGER applicability_decisions_no_delete
BEFORE DELETE ON applicability_decisions
BEGIN
    SELECT RAISE(ABORT, 'applicability decisions are append-only: a decision is never deleted');
END;
