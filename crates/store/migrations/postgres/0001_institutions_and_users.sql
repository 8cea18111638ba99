-- Institutions (tenants), users and their roles.
--
-- Timestamps are TIMESTAMPTZ (microsecond precision, stored as UTC). There is no delete
-- path: a login ID is never reused.

CREATE TABLE institutions (
    id          UUID NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    institution_id            UUID NOT NULL REFERENCES institutions (id),
    id                        UUID NOT NULL,
    -- Unique across the whole deployment, not per institution. Byte order ("C"), as in SQLite.
    login_id                  TEXT COLLATE "C" NOT NULL CONSTRAINT users_login_id_key UNIQUE,
    display_name              TEXT NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    job_type                  TEXT NOT NULL
                              CHECK (job_type IN ('doctor', 'dentist', 'nurse', 'pharmacist',
                                                  'technician', 'clerk', 'manager', 'auditor')),
    status                    TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'retired')),
    password_hash             TEXT NOT NULL,
    password_change_required  BOOLEAN NOT NULL,
    created_at                TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (institution_id, id)
);

CREATE TABLE user_roles (
    institution_id  UUID NOT NULL,
    user_id         UUID NOT NULL,
    role            TEXT NOT NULL
                    CHECK (role IN ('doctor', 'nurse', 'pharmacist', 'technician', 'clerk',
                                    'system_admin', 'auditor')),
    PRIMARY KEY (institution_id, user_id, role),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
);
