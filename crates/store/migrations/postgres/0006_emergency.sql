-- Emergency (break-glass) access (MDS 11, SDS 57–57.3): a user opens one patient's chart
-- outside their normal grants by stating a reason, for a limited time, and the safety manager
-- (安全管理責任者) reviews each grant afterwards.
--
-- There is no delete path: a grant keeps its row, reviewed or not, so the review queue and its
-- history are the same table.

-- An institution's grants. The user and the reviewer are users of the same institution; the
-- patient has no foreign key (there is no patients table yet). A review is all three columns
-- or none, and nobody reviews their own grant. A grant is reviewed by one conditional UPDATE.
CREATE TABLE emergency_grants (
    institution_id  UUID NOT NULL REFERENCES institutions (id),
    id              UUID NOT NULL,
    user_id         UUID NOT NULL,
    patient_id      UUID NOT NULL,
    reason          TEXT NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    granted_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    reviewed_by     UUID,
    reviewed_at     TIMESTAMPTZ,
    review_note     TEXT CHECK (review_note IS NULL OR char_length(review_note) <= 1000),
    PRIMARY KEY (institution_id, id),
    FOREIGN KEY (institution_id, user_id) REFERENCES users (institution_id, id),
    FOREIGN KEY (institution_id, reviewed_by) REFERENCES users (institution_id, id),
    CONSTRAINT emergency_grants_expire_after_granted CHECK (expires_at > granted_at),
    CONSTRAINT emergency_grants_review_is_whole CHECK (
        (reviewed_by IS NULL AND reviewed_at IS NULL AND review_note IS NULL)
        OR (reviewed_by IS NOT NULL AND reviewed_at IS NOT NULL AND review_note IS NOT NULL)
    ),
    CONSTRAINT emergency_grants_no_self_review CHECK (reviewed_by <> user_id)
);

-- A user's active grants (expires_at after now), soonest expiry first.
CREATE INDEX emergency_grants_by_user ON emergency_grants (institution_id, user_id, expires_at);
