-- The institution's tamper-evident log (MDS 4.3, SDS 17.3): an RFC 9162 Merkle tree whose
-- leaves are, for now, audit events (`mamori_core::audit`), one tree per institution.
--
-- Same conventions as 0001 to 0007: lower-case hyphenated UUID text, UTC timestamps with
-- exactly six fractional digits (so `at` compares as text), STRICT tables, 64-bit indexes
-- that are never negative. Leaves and perfect-subtree nodes have no update or delete path,
-- in the store or in the schema (triggers below); only the head moves, forward.

-- The head of an institution's log: how many leaves, the root over them, and the right edge
-- of the tree (`mamori_ledger::merkle::Frontier::to_bytes`: the size as 8 big-endian bytes,
-- then one 32-byte hash per set bit of the size), from which the next append continues. The
-- first append creates the row; every append rewrites it in the transaction that adds the
-- leaves, holding the write lock (`BEGIN IMMEDIATE`), so appends are serialized.
CREATE TABLE log_heads (
    institution_id  TEXT NOT NULL PRIMARY KEY REFERENCES institutions (id),
    size            INTEGER NOT NULL CHECK (size >= 0),
    root            BLOB NOT NULL CHECK (length(root) = 32),
    frontier        BLOB NOT NULL CHECK ((length(frontier) - 8) % 32 = 0 AND length(frontier) >= 8)
) STRICT;

-- A head never moves back: a log only grows.
CREATE TRIGGER log_heads_never_shrink
BEFORE UPDATE OF size ON log_heads
WHEN NEW.size < OLD.size
BEGIN
    SELECT RAISE(ABORT, 'the log is append-only: its size never decreases');
END;

-- One leaf: its exact bytes (hashed as SHA-256(0x00 || leaf)), its stored hash, and the
-- columns an auditor searches by, derived from the leaf when it was appended. `idx` is the
-- leaf's position in the tree, from 0. Only audit leaves exist so far.
CREATE TABLE log_leaves (
    institution_id  TEXT NOT NULL REFERENCES log_heads (institution_id),
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    leaf            BLOB NOT NULL,
    leaf_hash       BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    kind            TEXT NOT NULL CHECK (kind IN ('audit')),
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

-- The auditor's searches, newest first within each.
CREATE INDEX log_leaves_by_actor ON log_leaves (institution_id, actor_id, idx);
CREATE INDEX log_leaves_by_patient ON log_leaves (institution_id, patient_id, idx);
CREATE INDEX log_leaves_by_time ON log_leaves (institution_id, at);
CREATE INDEX log_leaves_by_action ON log_leaves (institution_id, action, idx);

-- Every perfect-subtree node of the tree: the hash of the leaves
-- [idx * 2^level, (idx + 1) * 2^level), level 0 being the leaf hashes. A node never changes
-- once its last leaf exists; proofs read O(log n) of them.
CREATE TABLE log_nodes (
    institution_id  TEXT NOT NULL REFERENCES log_heads (institution_id),
    level           INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    hash            BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (institution_id, level, idx)
) STRICT;

-- No update or delete path, whatever statement tries.
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

CREATE TRIGGER log_nodes_no_update
BEFORE UPDATE ON log_nodes
BEGIN
    SELECT RAISE(ABORT, 'the log is append-only: a node is never changed');
END;

CREATE TRIGGER log_nodes_no_delete
BEFORE DELETE ON log_nodes
BEGIN
    SELECT RAISE(ABORT, 'the log is append-only: a node is never deleted');
END;
