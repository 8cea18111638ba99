-- Sealed emergency accounts (非常時用ユーザーアカウント, MDS 11, SDS 57.x), and the institution's
-- own information categories (情報区分) and per-role clinical grants (the authz editor).
--
-- Same conventions as 0001 to 0006: lower-case hyphenated UUID text, UTC timestamps with
-- exactly six fractional digits (so `expires_at > activated_at` compares them as text), STRICT
-- tables, counters that fit a u32. There is no delete path for sealed accounts, activations or
-- categories: the activations are the record for review.

-- A user of the institution prepared for outages, its credentials printed once and sealed.
-- The generation goes up by one each time the account is re-keyed (`mamori emergency close`).
CREATE TABLE sealed_accounts (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    user_id         TEXT NOT NULL,
    generation      INTEGER NOT NULL CHECK (generation BETWEEN 1 AND 4294967295),
    sealed_at       TEXT NOT NULL
                    CHECK (sealed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, user_id),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
) STRICT;

-- One activation of a sealed account, confirmed by a second person of the same institution
-- (never the account itself), naming who uses the account and why. It allows use while it is
-- not closed and before `expires_at`; closing sets `closed_at` and keeps the row.
CREATE TABLE sealed_activations (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    id              TEXT NOT NULL
                    CHECK (length(id) = 36 AND id = lower(id)),
    user_id         TEXT NOT NULL,
    generation      INTEGER NOT NULL CHECK (generation BETWEEN 1 AND 4294967295),
    used_by         TEXT NOT NULL CHECK (length(used_by) BETWEEN 1 AND 100),
    reason          TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    confirmed_by    TEXT NOT NULL,
    activated_at    TEXT NOT NULL
                    CHECK (activated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    expires_at      TEXT NOT NULL
                    CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    closed_at       TEXT
                    CHECK (closed_at IS NULL OR closed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id),
    FOREIGN KEY (institution_id, user_id) REFERENCES sealed_accounts (institution_id, user_id),
    FOREIGN KEY (institution_id, confirmed_by) REFERENCES users (institution_id, id),
    CONSTRAINT sealed_activations_expire_after_activated CHECK (expires_at > activated_at),
    CONSTRAINT sealed_activations_no_self_confirmation CHECK (confirmed_by <> user_id),
    CONSTRAINT sealed_activations_closed_after_activated CHECK (closed_at IS NULL OR closed_at >= activated_at)
) STRICT;

-- An account's activation allowing use now (not closed, expires_at after now).
CREATE INDEX sealed_activations_by_user ON sealed_activations (institution_id, user_id, expires_at);

-- Categories an institution added to the six built-in ones: a name as
-- `mamori_core::authz::Category::parse` accepts it (1 to 40 of a-z, 0-9, '_', starting with a
-- letter), never a built-in name, and labels of 1 to 50 characters.
CREATE TABLE categories (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    name            TEXT NOT NULL
                    CHECK (length(name) BETWEEN 1 AND 40
                           AND name GLOB '[a-z]*' AND name NOT GLOB '*[^a-z0-9_]*'
                           AND name NOT IN ('clinical_record', 'lab_result', 'imaging',
                                            'prescription', 'document', 'psychiatric')),
    label_ja        TEXT NOT NULL CHECK (length(label_ja) BETWEEN 1 AND 50),
    label_en        TEXT NOT NULL CHECK (length(label_en) BETWEEN 1 AND 50),
    created_at      TEXT NOT NULL
                    CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, name)
) STRICT;

-- A role whose clinical grants the institution replaced (it no longer follows the default
-- policy), with who changed it and when; its grants are the rows of `role_grants`, possibly
-- none ("no clinical right"). Replacing them is one transaction: upsert this row, delete the
-- role's grants, insert the new ones.
CREATE TABLE role_policies (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    role            TEXT NOT NULL
                    CHECK (role IN ('doctor', 'nurse', 'pharmacist', 'technician', 'clerk',
                                    'system_admin', 'auditor')),
    changed_by      TEXT NOT NULL,
    changed_at      TEXT NOT NULL
                    CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, role),
    FOREIGN KEY (institution_id, changed_by) REFERENCES users (institution_id, id)
) STRICT;

-- One (action, category) a changed role holds. The category is not a foreign key (the
-- built-in ones are not rows): the application checks that it is built in or one of the
-- institution's, and the schema that it is a well-formed name.
CREATE TABLE role_grants (
    institution_id  TEXT NOT NULL,
    role            TEXT NOT NULL,
    action          TEXT NOT NULL
                    CHECK (action IN ('read', 'write', 'finalize', 'approve', 'print', 'export')),
    category        TEXT NOT NULL
                    CHECK (length(category) BETWEEN 1 AND 40
                           AND category GLOB '[a-z]*' AND category NOT GLOB '*[^a-z0-9_]*'),
    PRIMARY KEY (institution_id, role, action, category),
    FOREIGN KEY (institution_id, role) REFERENCES role_policies (institution_id, role) ON DELETE CASCADE
) STRICT;
