//! The store's error type and the mapping from sqlx's errors.

use mamori_core::config::Backend;

/// Why a store operation failed.
///
/// Messages name what went wrong, never stored values: no passwords, no personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be reached: the connection, the file or the pool failed.
    #[error(
        "データベース（{}）に接続できません: {detail} / cannot reach the {} database: {detail}",
        .backend.as_str(),
        .backend.as_str()
    )]
    Unavailable {
        /// Which backend.
        backend: Backend,
        /// What failed (a URL appears only redacted).
        detail: String,
    },
    /// The database URL cannot be used.
    #[error("データベースURLが不正です: {detail} / the database URL is invalid: {detail}")]
    InvalidUrl {
        /// What is wrong with it (the URL appears only redacted).
        detail: String,
    },
    /// The row would break a uniqueness rule (for example a login ID already taken).
    #[error("{what} は既に使われています / the {what} is already in use")]
    Conflict {
        /// What is duplicated, e.g. `login ID`.
        what: &'static str,
    },
    /// Something the operation needs does not exist (for example the institution).
    #[error("{what} が見つかりません / the {what} does not exist")]
    NotFound {
        /// What is missing, e.g. `institution`.
        what: &'static str,
    },
    /// Bootstrap was asked for, but the deployment already has an institution.
    #[error(
        "既に初期化されています（医療機関が登録済みです） / the deployment is already initialized (an institution exists)"
    )]
    AlreadyInitialized,
    /// A stored value does not parse back into its domain type.
    #[error("保存されている値が不正です: {detail} / a stored value is corrupt: {detail}")]
    Corrupt {
        /// Which column and why (never the value of a secret).
        detail: String,
    },
    /// A request asks for more at once than the store answers (for example more than 1000
    /// log nodes); nothing was read. Ask again in smaller parts.
    #[error("{what} は一度に {max} 件までです / at most {max} {what} at a time")]
    TooMany {
        /// What was asked for, e.g. `log nodes`.
        what: &'static str,
        /// The most the store answers at once.
        max: usize,
    },
    /// Applying the schema migrations failed.
    #[error("スキーマの更新に失敗しました: {detail} / the schema migration failed: {detail}")]
    Migration {
        /// What the migrator said.
        detail: String,
    },
    /// Any other database error.
    #[error("データベースエラー: {detail} / database error: {detail}")]
    Database {
        /// What the database said.
        detail: String,
    },
}

/// Maps an sqlx error that has no more specific meaning in its context.
pub(crate) fn from_sqlx(backend: Backend, err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Configuration(_)
        | sqlx::Error::Protocol(_) => StoreError::Unavailable { backend, detail: one_line(&err.to_string()) },
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt { detail: one_line(&err.to_string()) }
        }
        sqlx::Error::Migrate(e) => StoreError::Migration { detail: one_line(&e.to_string()) },
        sqlx::Error::Database(db) => StoreError::Database { detail: one_line(db.message()) },
        other => StoreError::Database { detail: one_line(&other.to_string()) },
    }
}

/// Whether `err` is a unique or primary-key violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether `err` is a foreign-key violation (for example a row naming a user that does not
/// exist in that institution).
pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// Maps the error of an insert into a table of a user's data: a user that does not exist in
/// that institution (foreign key) is [`StoreError::NotFound`], a taken key
/// [`StoreError::Conflict`] naming `taken`.
pub(crate) fn user_data_insert_error(backend: Backend, err: sqlx::Error, taken: &'static str) -> StoreError {
    if is_foreign_key_violation(&err) {
        StoreError::NotFound { what: "user" }
    } else if is_unique_violation(&err) {
        StoreError::Conflict { what: taken }
    } else {
        from_sqlx(backend, err)
    }
}

/// Maps the error of an insert into a table of an institution's own data (not a user's): an
/// institution that does not exist (foreign key) is [`StoreError::NotFound`], a taken key
/// [`StoreError::Conflict`] naming `taken`.
pub(crate) fn institution_data_insert_error(backend: Backend, err: sqlx::Error, taken: &'static str) -> StoreError {
    if is_foreign_key_violation(&err) {
        StoreError::NotFound { what: "institution" }
    } else if is_unique_violation(&err) {
        StoreError::Conflict { what: taken }
    } else {
        from_sqlx(backend, err)
    }
}

/// Whether `err` is a unique violation on the deployment-wide login ID constraint.
///
/// PostgreSQL names the constraint; SQLite names the column in its message.
pub(crate) fn is_login_id_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint() == Some("users_login_id_key") || db.message().contains("users.login_id")
        }
        _ => false,
    }
}

/// Maps the error of inserting a terminal: an unknown institution (foreign key) is
/// [`StoreError::NotFound`]; a name used before in the institution, a fingerprint registered
/// anywhere, or a taken terminal ID is [`StoreError::Conflict`] naming which.
///
/// PostgreSQL names the constraint; SQLite names the columns in its message.
pub(crate) fn terminal_insert_error(backend: Backend, err: sqlx::Error) -> StoreError {
    if is_foreign_key_violation(&err) {
        return StoreError::NotFound { what: "institution" };
    }
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let (constraint, message) = (db.constraint(), db.message());
            if constraint == Some("terminals_name_key") || message.contains("terminals.name") {
                StoreError::Conflict { what: "terminal name" }
            } else if constraint == Some("terminals_cert_sha256_key") || message.contains("terminals.cert_sha256") {
                StoreError::Conflict { what: "terminal certificate" }
            } else {
                StoreError::Conflict { what: "terminal ID" }
            }
        }
        _ => from_sqlx(backend, err),
    }
}

/// Maps the error of writing a patient's current row or a version of it: a `changed_by` that
/// is not a user of the institution (foreign key; for an unknown institution there is none) is
/// [`StoreError::NotFound`] (`"user"`); a number another patient of the institution has is
/// [`StoreError::Conflict`] (`"patient number"`), any other taken key (the ID) `"patient"`.
///
/// PostgreSQL names the constraint; SQLite names the columns in its message.
pub(crate) fn patient_write_error(backend: Backend, err: sqlx::Error) -> StoreError {
    if is_foreign_key_violation(&err) {
        return StoreError::NotFound { what: "user" };
    }
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            if db.constraint() == Some("patients_number_key") || db.message().contains("patients.number") {
                StoreError::Conflict { what: "patient number" }
            } else {
                StoreError::Conflict { what: "patient" }
            }
        }
        _ => from_sqlx(backend, err),
    }
}

/// Maps the error of writing a record or one of its versions: a taken key is
/// [`StoreError::Conflict`] (`"record"` for the record's ID, `"record leaf"` for a leaf index
/// another version has, `"record version"` for a version number the record has); a foreign-key
/// failure is [`StoreError::NotFound`] naming the missing reference when PostgreSQL names the
/// constraint (`"patient"`, `"record"`, `"user"` or `"device"`), else `missing`, which the
/// SQLite backend has found by looking (SQLite does not say which key failed).
pub(crate) fn record_write_error(backend: Backend, err: sqlx::Error, missing: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            let what = match db.constraint() {
                Some("records_patient_fkey") => "patient",
                Some("record_versions_record_fkey") => "record",
                Some(
                    "records_created_by_user_fkey"
                    | "record_versions_author_user_fkey"
                    | "record_versions_proxy_for_fkey"
                    | "record_versions_finalized_by_user_fkey"
                    | "record_versions_rejected_by_fkey",
                ) => "user",
                Some(
                    "records_created_by_device_fkey"
                    | "record_versions_author_device_fkey"
                    | "record_versions_finalized_by_device_fkey",
                ) => "device",
                _ => missing,
            };
            StoreError::NotFound { what }
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let (constraint, message) = (db.constraint(), db.message());
            if constraint == Some("records_pkey") || message.contains("records.id") {
                StoreError::Conflict { what: "record" }
            } else if constraint == Some("record_versions_leaf_index_key")
                || message.contains("record_versions.leaf_index")
            {
                StoreError::Conflict { what: "record leaf" }
            } else {
                StoreError::Conflict { what: "record version" }
            }
        }
        _ => from_sqlx(backend, err),
    }
}

/// Maps the error of inserting a device: any taken key (its name in the institution, its token
/// hash anywhere, its ID) is [`StoreError::Conflict`] (`"device"`); a `registered_by` that is
/// not a user of the institution (foreign key; for an unknown institution there is none)
/// [`StoreError::NotFound`] (`"user"`).
pub(crate) fn device_insert_error(backend: Backend, err: sqlx::Error) -> StoreError {
    if is_foreign_key_violation(&err) {
        StoreError::NotFound { what: "user" }
    } else if is_unique_violation(&err) {
        StoreError::Conflict { what: "device" }
    } else {
        from_sqlx(backend, err)
    }
}

/// Maps the error of inserting a master entry: a taken (master, code, version) is
/// [`StoreError::Conflict`] (`"master entry"`); a foreign-key failure is
/// [`StoreError::NotFound`]: `"user"` when PostgreSQL names the key of `imported_by`,
/// `"institution"` when it names another, else `missing` (which the SQLite backend has found
/// by looking).
pub(crate) fn master_entry_insert_error(backend: Backend, err: sqlx::Error, missing: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            let what = match db.constraint() {
                Some("master_entries_imported_by_fkey") => "user",
                Some(_) => "institution",
                None => missing,
            };
            StoreError::NotFound { what }
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: "master entry" },
        _ => from_sqlx(backend, err),
    }
}

/// Maps the error of writing an assessment, an item (its current row or a version) or a
/// revision of evidence: a taken key is [`StoreError::Conflict`] naming `taken` (the writer
/// knows which table it wrote); a foreign-key failure is [`StoreError::NotFound`] naming the
/// missing reference when PostgreSQL names the constraint (`"assessment"`, `"assessment item"`
/// or `"user"`), else `missing`, which the SQLite backend has found by looking (SQLite does not
/// say which key failed).
pub(crate) fn assessment_write_error(
    backend: Backend,
    err: sqlx::Error,
    taken: &'static str,
    missing: &'static str,
) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            let what = match db.constraint() {
                Some("assessments_carried_from_fkey" | "assessment_items_assessment_fkey") => "assessment",
                Some("assessment_item_versions_item_fkey" | "evidence_item_fkey") => "assessment item",
                Some(
                    "assessments_created_by_fkey"
                    | "assessment_items_owner_fkey"
                    | "assessment_items_changed_by_fkey"
                    | "assessment_item_versions_owner_fkey"
                    | "assessment_item_versions_changed_by_fkey"
                    | "evidence_owner_fkey"
                    | "evidence_added_by_fkey",
                ) => "user",
                _ => missing,
            };
            StoreError::NotFound { what }
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: taken },
        _ => from_sqlx(backend, err),
    }
}

/// Maps the error of writing a register entry or one of its versions: a taken key is
/// [`StoreError::Conflict`] (`"register entry"`); a foreign-key failure is
/// [`StoreError::NotFound`] naming the missing reference when PostgreSQL names the constraint,
/// else `missing`, which the SQLite backend has found by looking.
pub(crate) fn register_write_error(backend: Backend, err: sqlx::Error, missing: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            let what = match db.constraint() {
                Some("register_entries_institution_fkey") => "institution",
                Some("register_entries_created_by_fkey" | "register_entry_versions_author_fkey") => "user",
                Some("register_entry_versions_entry_fkey") => "register entry",
                _ => missing,
            };
            StoreError::NotFound { what }
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: "register entry" },
        _ => from_sqlx(backend, err),
    }
}

/// Collapses whitespace so a detail stays on one log line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
