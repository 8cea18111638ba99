-- Emergency (break-glass) access (MDS 11, SDS 57–57.3): a user opens one patient's chart
-- outside their normal grants by stating a reason, for a limited time, and the safety manager
-- (安全管理責任者) reviews each grant afterwards.
--
-- Same conventions as 0001 to 0005: lower-case hyphenated UUID text, UTC timestamps with
-- exactly six fractional digits (so `expires_at > granted_at` compares them as text), STRICT
-- tables. There is no delete path: a grant keeps its row, reviewed or not, so the review queue
-- and its history are the same table.

-- An institution's grants. The user and the reviewer are users of the same institution; the
-- patient has no foreign key (there is no patients table yet). A review is all three columns
-- or none, and nobody reviews their own grant. A grant is reviewed by one conditional UPDATE.
CREATE TABLE emergency_grants (
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    id              TEXT NOT NULL
                    CHECK (length(id) = 36 AND id = lower(id)),
    user_id         TEXT NOT NULL,
    patient_id      TEXT NOT NULL
                    CHECK (length(patient_id) = 36 AND patient_id = lower(patient_id)),
    reason          TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    granted_at      TEXT NOT NULL
                    CHECK (granted_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    expires_at      TEXT NOT NULL
                    CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    reviewed_by     TEXT,
    reviewed_at     TEXT
                    CHECK (reviewed_at IS NULL OR reviewed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    review_note     TEXT CHECK (review_note IS NULL OR length(review_note) <= 1000),
    PRIMARY KEY (institution_id, id),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, reviewed_by) REFERENCES users (institution_id, id),
    CONSTRAINT emergency_grants_expire_after_granted CHECK (expires_at > granted_at),
    CONSTRAINT emergency_grants_review_is_whole CHECK (
        (reviewed_by IS NULL AND reviewed_at IS NULL AND review_note IS NULL)
        OR (reviewed_by IS NOT NULL AND reviewed_at IS NOT NULL AND review_note IS NOT NULL)
    ),
    CONSTRAINT emergency_grants_no_self_review CHECK (reviewed_by <> user_id)
) STRICT;

-- A user's active grants (expires_at after now), soonest expiry first.
CREATE INDEX emergency_grants_by_user ON emergency_grants (institution_id, user_id, expires_at);
