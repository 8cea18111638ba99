-- Sealed emergency accounts (非常時用ユーザーアカウント, MDS 11, SDS 57.x), and the institution's
-- own information categories (情報区分) and per-role clinical grants (the authz editor).
--
-- Counters are BIGINT bounded to a u32. There is no delete path for sealed accounts,
-- activations or categories: the activations are the record for review.

-- A user of the institution prepared for outages, its credentials printed once and sealed.
-- The generation goes up by one each time the account is re-keyed (`mamori emergency close`).
CREATE TABLE sealed_accounts (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    user_id         UUID NOT NULL,
    generation      BIGINT NOT NULL CHECK (generation BETWEEN 1 AND 4294967295),
    sealed_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, user_id),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
);

-- One activation of a sealed account, confirmed by a second person of the same institution
-- (never the account itself), naming who uses the account and why. It allows use while it is
-- not closed and before `expires_at`; closing sets `closed_at` and keeps the row.
CREATE TABLE sealed_activations (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    id              UUID NOT NULL,
    user_id         UUID NOT NULL,
    generation      BIGINT NOT NULL CHECK (generation BETWEEN 1 AND 4294967295),
    used_by         TEXT NOT NULL CHECK (char_length(used_by) BETWEEN 1 AND 100),
    reason          TEXT NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    confirmed_by    UUID NOT NULL,
    activated_at    TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    closed_at       TIMESTAMPTZ,
    PRIMARY KEY (institution_id, id),
    FOREIGN KEY (institution_id, user_id) REFERENCES sealed_accounts (institution_id, user_id),
    FOREIGN KEY (institution_id, confirmed_by) REFERENCES users (institution_id, id),
    CONSTRAINT sealed_activations_expire_after_activated CHECK (expires_at > activated_at),
    CONSTRAINT sealed_activations_no_self_confirmation CHECK (confirmed_by <> user_id),
    CONSTRAINT sealed_activations_closed_after_activated CHECK (closed_at IS NULL OR closed_at >= activated_at)
);

-- An account's activation allowing use now (not closed, expires_at after now).
CREATE INDEX sealed_activations_by_user ON sealed_activations (institution_id, user_id, expires_at);

-- Categories an institution added to the six built-in ones: a name as
-- `mamori_core::authz::Category::parse` accepts it (1 to 40 of a-z, 0-9, '_', starting with a
-- letter), never a built-in name, and labels of 1 to 50 characters. Byte order ("C"), as in
-- SQLite.
CREATE TABLE categories (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    name            TEXT COLLATE "C" NOT NULL
                    CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'
                           AND name NOT IN ('clinical_record', 'lab_result', 'imaging',
                                            'prescription', 'document', 'psychiatric')),
    label_ja        TEXT NOT NULL CHECK (char_length(label_ja) BETWEEN 1 AND 50),
    label_en        TEXT NOT NULL CHECK (char_length(label_en) BETWEEN 1 AND 50),
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, name)
);

-- A role whose clinical grants the institution replaced (it no longer follows the default
-- policy), with who changed it and when; its grants are the rows of `role_grants`, possibly
-- none ("no clinical right"). Replacing them is one transaction: upsert this row, delete the
-- role's grants, insert the new ones.
CREATE TABLE role_policies (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    role            TEXT COLLATE "C" NOT NULL
                    CHECK (role IN ('doctor', 'nurse', 'pharmacist', 'technician', 'clerk',
                                    'system_admin', 'auditor')),
    changed_by      UUID NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, role),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
);

-- One (action, category) a changed role holds. The category is not a foreign key (the
-- built-in ones are not rows): the application checks that it is built in or one of the
-- institution's, and the schema that it is a well-formed name.
CREATE TABLE role_grants (
    institution_id  UUID NOT NULL,
    role            TEXT COLLATE "C" NOT NULL,
    action          TEXT COLLATE "C" NOT NULL
                    CHECK (action IN ('read', 'write', 'finalize', 'approve', 'print', 'export')),
    category        TEXT COLLATE "C" NOT NULL CHECK (category ~ '^[a-z][a-z0-9_]{0,39}$'),
    PRIMARY KEY (institution_id, role, action, category),
    FOREIGN KEY (institution_id, role) REFERENCES role_policies (institution_id, role) ON DELETE CASCADE
);
