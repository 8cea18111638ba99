-- The institution's tamper-evident log (MDS 4.3, SDS 17.3): an RFC 9162 Merkle tree whose
-- leaves are, for now, audit events (`mamori_core::audit`), one tree per institution.
--
-- Indexes are BIGINT and never negative. Leaves and perfect-subtree nodes have no update or
-- delete path, in the store or in the schema (triggers below); only the head moves, forward.

-- The head of an institution's log: how many leaves, the root over them, and the right edge
-- of the tree (`mamori_ledger::merkle::Frontier::to_bytes`: the size as 8 big-endian bytes,
-- then one 32-byte hash per set bit of the size), from which the next append continues. The
-- first append creates the row (`ON CONFLICT DO NOTHING`); every append then locks it
-- (`SELECT ... FOR UPDATE`) and rewrites it in the transaction that adds the leaves, so the
-- appends of one institution are serialized.
CREATE TABLE log_heads (
    institution_id  UUID NOT NULL PRIMARY KEY REFERENCES institutions (id),
    size            BIGINT NOT NULL CHECK (size >= 0),
    root            BYTEA NOT NULL CHECK (octet_length(root) = 32),
    frontier        BYTEA NOT NULL CHECK (octet_length(frontier) >= 8 AND (octet_length(frontier) - 8) % 32 = 0)
);

-- A head never moves back: a log only grows.
CREATE FUNCTION log_heads_never_shrink() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the log is append-only: its size never decreases' USING ERRCODE = 'check_violation';
END;
$$;

CREATE TRIGGER log_heads_never_shrink
    BEFORE UPDATE OF size ON log_heads
    FOR EACH ROW
    WHEN (NEW.size < OLD.size)
    EXECUTE FUNCTION log_heads_never_shrink();

-- One leaf: its exact bytes (hashed as SHA-256(0x00 || leaf)), its stored hash, and the
-- columns an auditor searches by, derived from the leaf when it was appended. `idx` is the
-- leaf's position in the tree, from 0. Only audit leaves exist so far. Text compares
-- bytewise ("C"), as in SQLite.
CREATE TABLE log_leaves (
    institution_id  UUID NOT NULL REFERENCES log_heads (institution_id),
    idx             BIGINT NOT NULL CHECK (idx >= 0),
    leaf            BYTEA NOT NULL,
    leaf_hash       BYTEA NOT NULL CHECK (octet_length(leaf_hash) = 32),
    kind            TEXT COLLATE "C" NOT NULL CHECK (kind IN ('audit')),
    at              TIMESTAMPTZ NOT NULL,
    actor_id        UUID,
    patient_id      UUID,
    action          TEXT COLLATE "C" NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]{0,63}$'),
    outcome         TEXT COLLATE "C" NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error')),
    category        TEXT COLLATE "C" CHECK (category ~ '^[a-z][a-z0-9_]{0,39}$'),
    PRIMARY KEY (institution_id, idx)
);

-- The auditor's searches, newest first within each.
CREATE INDEX log_leaves_by_actor ON log_leaves (institution_id, actor_id, idx);
CREATE INDEX log_leaves_by_patient ON log_leaves (institution_id, patient_id, idx);
CREATE INDEX log_leaves_by_time ON log_leaves (institution_id, at);
CREATE INDEX log_leaves_by_action ON log_leaves (institution_id, action, idx);

-- Every perfect-subtree node of the tree: the hash of the leaves
-- [idx * 2^level, (idx + 1) * 2^level), level 0 being the leaf hashes. A node never changes
-- once its last leaf exists; proofs read O(log n) of them.
CREATE TABLE log_nodes (
    institution_id  UUID NOT NULL REFERENCES log_heads (institution_id),
    level           SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx             BIGINT NOT NULL CHECK (idx >= 0),
    hash            BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (institution_id, level, idx)
);

-- No update or delete path, whatever statement tries (TRUNCATE included, which skips row
-- triggers).
CREATE FUNCTION log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER log_leaves_append_only
    BEFORE UPDATE OR DELETE ON log_leaves
    FOR EACH ROW
    EXECUTE FUNCTION log_is_append_only();

CREATE TRIGGER log_leaves_no_truncate
    BEFORE TRUNCATE ON log_leaves
    FOR EACH STATEMENT
    EXECUTE FUNCTION log_is_append_only();

CREATE TRIGGER log_nodes_append_only
    BEFORE UPDATE OR DELETE ON log_nodes
    FOR EACH ROW
    EXECUTE FUNCTION log_is_append_only();

CREATE TRIGGER log_nodes_no_truncate
    BEFORE TRUNCATE ON log_nodes
    FOR EACH STATEMENT
    EXECUTE FUNCTION log_is_append_only();
