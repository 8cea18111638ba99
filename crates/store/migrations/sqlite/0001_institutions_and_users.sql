-- Institutions (tenants), users and their roles.
--
-- Identifiers are lower-case hyphenated UUID text. Timestamps are UTC text with exactly six
-- fractional digits (`2026-11-25T09:00:00.123456Z`), so they round-trip to the microsecond and
-- sort chronologically as text. There is no delete path: a login ID is never reused.

CREATE TABLE institutions (
    id          TEXT NOT NULL PRIMARY KEY
                CHECK (length(id) = 36 AND id = lower(id)),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  TEXT NOT NULL
                CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;

CREATE TABLE users (
    institution_id            TEXT NOT NULL REFERENCES institutions (id),
    id                        TEXT NOT NULL
                              CHECK (length(id) = 36 AND id = lower(id)),
    -- Unique across the whole deployment, not per institution.
    login_id                  TEXT NOT NULL CONSTRAINT users_login_id_key UNIQUE,
    display_name              TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    job_type                  TEXT NOT NULL
                              CHECK (job_type IN ('doctor', 'dentist', 'nurse', 'pharmacist',
                                                  'technician', 'clerk', 'manager', 'auditor')),
    status                    TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'retired')),
    password_hash             TEXT NOT NULL,
    password_change_required  INTEGER NOT NULL CHECK (password_change_required IN (0, 1)),
    created_at                TEXT NOT NULL
                              CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (institution_id, id)
) STRICT;

CREATE TABLE user_roles (
    institution_id  TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL
                    CHECK (role IN ('doctor', 'nurse', 'pharmacist', 'technician', 'clerk',
                                    'system_admin', 'auditor')),
    PRIMARY KEY (institution_id, user_id, role),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id)
) STRICT;
