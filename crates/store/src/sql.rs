//! Every SQL statement the store runs, as static text with numbered parameters (`$1`, `$2`, …),
//! which both SQLite and PostgreSQL accept. The backends bind their own column types.
//!
//! Review rule: every statement that reads or writes an institution's data binds
//! `institution_id` in its `WHERE` clause or its key. The only statements that range over all
//! institutions are the deployment-level ones marked below.

/// Liveness.
pub(crate) const PING: &str = "SELECT 1";

/// Highest applied migration (sqlx's bookkeeping table).
pub(crate) const SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";

/// Deployment-level: whether any institution exists.
pub(crate) const ANY_INSTITUTION: &str = "SELECT EXISTS (SELECT 1 FROM institutions)";

/// PostgreSQL only: serializes bootstraps (another bootstrap waits, then sees the institution).
/// SQLite gets the same effect from `BEGIN IMMEDIATE`.
pub(crate) const PG_LOCK_INSTITUTIONS: &str = "LOCK TABLE institutions IN SHARE ROW EXCLUSIVE MODE";

/// SQLite only: take the write lock when the transaction starts.
pub(crate) const SQLITE_BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// PostgreSQL only: every transaction the store opens, whatever the server's
/// `default_transaction_isolation`: row locks taken by `FOR UPDATE` and by conditional
/// `UPDATE`s then make a waiting statement re-check the latest committed row (instead of failing
/// with a serialization error).
pub(crate) const PG_BEGIN_READ_COMMITTED: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

pub(crate) const INSERT_INSTITUTION: &str = "INSERT INTO institutions (id, name, created_at) VALUES ($1, $2, $3)";

pub(crate) const SELECT_INSTITUTION: &str = "SELECT id, name, created_at FROM institutions WHERE id = $1";

/// Deployment-level: the list of tenants.
pub(crate) const SELECT_INSTITUTIONS: &str = "SELECT id, name, created_at FROM institutions ORDER BY created_at, id";

pub(crate) const INSTITUTION_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM institutions WHERE id = $1)";

pub(crate) const INSERT_USER: &str = "INSERT INTO users \
     (institution_id, id, login_id, display_name, job_type, status, password_hash, \
      password_change_required, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const INSERT_USER_ROLE: &str = "INSERT INTO user_roles (institution_id, user_id, role) VALUES ($1, $2, $3)";

/// The columns [`crate::rows::UserRow`] reads: one row per (user, role), `role` NULL for a user
/// without roles. `last_login_at` is bookkeeping, not part of [`mamori_core::User`]; only the
/// ID ledger reports it.
macro_rules! select_users {
    ($where_and_order:literal) => {
        concat!(
            "SELECT u.institution_id, u.id, u.login_id, u.display_name, u.job_type, u.status, \
                    u.password_hash, u.password_change_required, u.created_at, u.last_login_at, \
                    r.role \
             FROM users u \
             LEFT JOIN user_roles r \
               ON r.institution_id = u.institution_id AND r.user_id = u.id \
             ",
            $where_and_order
        )
    };
}

pub(crate) const SELECT_USER: &str = select_users!("WHERE u.institution_id = $1 AND u.id = $2 ORDER BY r.role");

pub(crate) const SELECT_USER_BY_LOGIN_ID: &str =
    select_users!("WHERE u.institution_id = $1 AND u.login_id = $2 ORDER BY r.role");

/// Every user of the institution, whatever its status, by login ID: the user list and the ID
/// ledger (ID台帳), which also reports `last_login_at`.
pub(crate) const SELECT_USERS: &str = select_users!("WHERE u.institution_id = $1 ORDER BY u.login_id, u.id, r.role");

/// Deployment-level: login IDs are unique across the deployment, so the login step finds the
/// user (and with it the institution) by login ID alone.
pub(crate) const SELECT_USER_BY_LOGIN_ID_ANY_INSTITUTION: &str = select_users!("WHERE u.login_id = $1 ORDER BY r.role");

/// `SELECT 1` for an existing user; with `FOR UPDATE` (PostgreSQL) it also locks the row until
/// the transaction ends, serializing changes to that user's dependent rows.
macro_rules! select_user_exists {
    ($suffix:literal) => {
        concat!("SELECT 1 FROM users WHERE institution_id = $1 AND id = $2", $suffix)
    };
}

pub(crate) const SELECT_USER_EXISTS: &str = select_user_exists!("");

pub(crate) const PG_LOCK_USER: &str = select_user_exists!(" FOR UPDATE");

/// Changes the status of a user that is not retired: a retired account's status is final (the
/// schema's `users_retired_is_final` trigger refuses it too). No row changed means the user is
/// retired or missing; [`SELECT_USER_STATUS`] tells which.
pub(crate) const UPDATE_USER_STATUS: &str = "UPDATE users SET status = $3 \
     WHERE institution_id = $1 AND id = $2 AND status <> 'retired'";

pub(crate) const SELECT_USER_STATUS: &str = "SELECT status FROM users WHERE institution_id = $1 AND id = $2";

pub(crate) const DELETE_USER_ROLES: &str = "DELETE FROM user_roles WHERE institution_id = $1 AND user_id = $2";

pub(crate) const UPDATE_PASSWORD: &str = "UPDATE users SET password_hash = $3, password_change_required = $4 \
     WHERE institution_id = $1 AND id = $2";

/// The previous successful login and the failures counted since. PostgreSQL reads it
/// `FOR UPDATE` so that no failure is counted between this read and [`UPDATE_LOGIN_SUCCESS`];
/// SQLite holds the write lock (`BEGIN IMMEDIATE`) instead.
macro_rules! select_login_state {
    ($suffix:literal) => {
        concat!("SELECT last_login_at, failures_since_login FROM users WHERE institution_id = $1 AND id = $2", $suffix)
    };
}

pub(crate) const SELECT_LOGIN_STATE: &str = select_login_state!("");

pub(crate) const PG_SELECT_LOGIN_STATE_FOR_UPDATE: &str = select_login_state!(" FOR UPDATE");

pub(crate) const UPDATE_LOGIN_SUCCESS: &str = "UPDATE users SET last_login_at = $3, failures_since_login = 0 \
     WHERE institution_id = $1 AND id = $2";

/// Adds one failure, saturating at the largest u32.
pub(crate) const UPDATE_LOGIN_FAILURE: &str = "UPDATE users SET failures_since_login = \
       CASE WHEN failures_since_login < 4294967295 THEN failures_since_login + 1 ELSE failures_since_login END \
     WHERE institution_id = $1 AND id = $2";

/// Deployment-level: throttles are keyed by the login ID as typed, known or not.
pub(crate) const SELECT_THROTTLE: &str =
    "SELECT login_id, failures, last_failure_at FROM login_throttles WHERE login_id = $1";

/// Deployment-level (see [`SELECT_THROTTLE`]).
pub(crate) const UPSERT_THROTTLE: &str = "INSERT INTO login_throttles (login_id, failures, last_failure_at) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (login_id) DO UPDATE \
       SET failures = excluded.failures, last_failure_at = excluded.last_failure_at";

/// Deployment-level (see [`SELECT_THROTTLE`]).
pub(crate) const DELETE_THROTTLE: &str = "DELETE FROM login_throttles WHERE login_id = $1";

pub(crate) const SELECT_TOTP: &str = "SELECT secret, confirmed, last_used_step, created_at FROM user_totp \
     WHERE institution_id = $1 AND user_id = $2";

pub(crate) const UPSERT_TOTP: &str = "INSERT INTO user_totp \
     (institution_id, user_id, secret, confirmed, last_used_step, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (institution_id, user_id) DO UPDATE \
       SET secret = excluded.secret, confirmed = excluded.confirmed, \
           last_used_step = excluded.last_used_step, created_at = excluded.created_at";

pub(crate) const CONFIRM_TOTP: &str =
    "UPDATE user_totp SET confirmed = TRUE WHERE institution_id = $1 AND user_id = $2";

/// The TOTP replay guard: one conditional UPDATE, so of concurrent uses of one step exactly
/// one changes the row.
pub(crate) const USE_TOTP_STEP: &str = "UPDATE user_totp SET last_used_step = $3 \
     WHERE institution_id = $1 AND user_id = $2 AND (last_used_step IS NULL OR last_used_step < $3)";

pub(crate) const DELETE_TOTP: &str = "DELETE FROM user_totp WHERE institution_id = $1 AND user_id = $2";

pub(crate) const DELETE_RECOVERY_CODES: &str =
    "DELETE FROM user_recovery_codes WHERE institution_id = $1 AND user_id = $2";

pub(crate) const INSERT_RECOVERY_CODE: &str = "INSERT INTO user_recovery_codes \
     (institution_id, user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, $4, NULL)";

/// One conditional UPDATE: of concurrent uses of one code exactly one changes the row.
pub(crate) const USE_RECOVERY_CODE: &str = "UPDATE user_recovery_codes SET used_at = $4 \
     WHERE institution_id = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL";

pub(crate) const COUNT_UNUSED_RECOVERY_CODES: &str = "SELECT COUNT(*) FROM user_recovery_codes \
     WHERE institution_id = $1 AND user_id = $2 AND used_at IS NULL";

pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions \
     (token_hash, institution_id, user_id, stage, created_at, last_seen_at, expires_at, locked, \
      csrf_token, previous_login_at, failures_since_previous, client_cert_sha256) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Deployment-level: a request carries only its token; the session names its institution, and
/// every later statement on it binds that institution.
pub(crate) const SELECT_SESSION: &str = "SELECT token_hash, institution_id, user_id, stage, created_at, \
            last_seen_at, expires_at, locked, csrf_token, previous_login_at, \
            failures_since_previous, client_cert_sha256 \
     FROM sessions WHERE token_hash = $1";

pub(crate) const UPDATE_SESSION: &str = "UPDATE sessions \
     SET stage = $3, last_seen_at = $4, expires_at = $5, locked = $6, previous_login_at = $7, \
         failures_since_previous = $8, csrf_token = $9 \
     WHERE institution_id = $1 AND token_hash = $2";

pub(crate) const TOUCH_SESSION: &str =
    "UPDATE sessions SET last_seen_at = $3 WHERE institution_id = $1 AND token_hash = $2 AND last_seen_at < $3";

pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE institution_id = $1 AND token_hash = $2";

pub(crate) const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE institution_id = $1 AND user_id = $2";

pub(crate) const INSERT_REENROLL_PASS: &str = "INSERT INTO reenroll_passes \
     (institution_id, user_id, pass_hash, issued_by, reason, issued_at, expires_at, used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// One conditional UPDATE: a pass is used at most once, before it expires (`expires_at` itself
/// is too late), and only by its own user in its own institution. Of concurrent uses exactly
/// one changes the row.
pub(crate) const USE_REENROLL_PASS: &str = "UPDATE reenroll_passes SET used_at = $4 \
     WHERE institution_id = $1 AND user_id = $2 AND pass_hash = $3 AND used_at IS NULL \
       AND $4 < expires_at";

/// For review: the institution's passes, newest first.
pub(crate) const SELECT_REENROLL_PASSES: &str = "SELECT institution_id, user_id, pass_hash, issued_by, reason, \
            issued_at, expires_at, used_at \
     FROM reenroll_passes WHERE institution_id = $1 ORDER BY issued_at DESC, pass_hash";

pub(crate) const INSERT_WEBAUTHN_CREDENTIAL: &str = "INSERT INTO user_webauthn \
     (institution_id, user_id, credential_id, name, credential_json, created_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A user's credentials, oldest first (then by credential ID, bytewise on both backends).
pub(crate) const SELECT_WEBAUTHN_CREDENTIALS: &str = "SELECT credential_id, name, credential_json, created_at, \
            last_used_at \
     FROM user_webauthn WHERE institution_id = $1 AND user_id = $2 ORDER BY created_at, credential_id";

/// After a login: the new signature counter (in the JSON) and the time of use.
pub(crate) const UPDATE_WEBAUTHN_CREDENTIAL: &str = "UPDATE user_webauthn SET credential_json = $4, last_used_at = $5 \
     WHERE institution_id = $1 AND user_id = $2 AND credential_id = $3";

pub(crate) const DELETE_WEBAUTHN_CREDENTIAL: &str =
    "DELETE FROM user_webauthn WHERE institution_id = $1 AND user_id = $2 AND credential_id = $3";

pub(crate) const DELETE_WEBAUTHN_CREDENTIALS: &str =
    "DELETE FROM user_webauthn WHERE institution_id = $1 AND user_id = $2";

/// Inserts or replaces the pending ceremony of the session with token hash `$1` in institution
/// `$2`: the `SELECT` yields a row only for such a session, so no row changed means there is
/// none. A replacement also requires the stored row's institution to be `$2`. (The `WHERE` in
/// the `SELECT` also keeps SQLite from reading `ON CONFLICT` as part of a join.)
pub(crate) const UPSERT_WEBAUTHN_CHALLENGE: &str = "INSERT INTO webauthn_challenges \
     (token_hash, institution_id, purpose, state, expires_at) \
     SELECT $1, $2, $3, $4, $5 FROM sessions WHERE token_hash = $1 AND institution_id = $2 \
     ON CONFLICT (token_hash) DO UPDATE \
       SET purpose = excluded.purpose, state = excluded.state, expires_at = excluded.expires_at \
       WHERE webauthn_challenges.institution_id = excluded.institution_id";

/// Takes the session's pending ceremony: one `DELETE ... RETURNING`, so of concurrent takes
/// exactly one gets the row, and a taken challenge is gone whether or not it was still valid
/// (the caller then checks its purpose and expiry).
pub(crate) const TAKE_WEBAUTHN_CHALLENGE: &str = "DELETE FROM webauthn_challenges \
     WHERE token_hash = $1 AND institution_id = $2 \
     RETURNING purpose, state, expires_at";

/// The institution's "logins only from registered terminals" rule.
pub(crate) const SELECT_REQUIRE_REGISTERED_TERMINAL: &str =
    "SELECT require_registered_terminal FROM institutions WHERE id = $1";

pub(crate) const UPDATE_REQUIRE_REGISTERED_TERMINAL: &str =
    "UPDATE institutions SET require_registered_terminal = $2 WHERE id = $1";

pub(crate) const INSERT_TERMINAL: &str = "INSERT INTO terminals \
     (institution_id, id, name, cert_sha256, issued_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// The columns [`crate::rows::TerminalRow`] reads.
macro_rules! select_terminals {
    ($where_and_order:literal) => {
        concat!("SELECT institution_id, id, name, cert_sha256, issued_at, revoked_at FROM terminals ", $where_and_order)
    };
}

/// Every terminal of the institution, revoked ones included, by name (bytewise on both
/// backends; names are unique in an institution).
pub(crate) const SELECT_TERMINALS: &str = select_terminals!("WHERE institution_id = $1 ORDER BY name");

/// Fingerprints are unique across the deployment, but the lookup still names the institution:
/// another institution's terminal is never found.
pub(crate) const SELECT_TERMINAL_BY_FINGERPRINT: &str =
    select_terminals!("WHERE institution_id = $1 AND cert_sha256 = $2");

/// One conditional UPDATE: a terminal is revoked once, and of concurrent revocations exactly
/// one changes the row.
pub(crate) const REVOKE_TERMINAL: &str = "UPDATE terminals SET revoked_at = $3 \
     WHERE institution_id = $1 AND name = $2 AND revoked_at IS NULL";

/// When a terminal is revoked: every session opened over a connection with its certificate.
pub(crate) const DELETE_SESSIONS_OF_CERTIFICATE: &str =
    "DELETE FROM sessions WHERE institution_id = $1 AND client_cert_sha256 = $2";

/// A grant as given (its review normally NULL). The user and any reviewer must be users of the
/// institution (foreign keys).
pub(crate) const INSERT_EMERGENCY_GRANT: &str = "INSERT INTO emergency_grants \
     (institution_id, id, user_id, patient_id, reason, granted_at, expires_at, reviewed_by, reviewed_at, \
      review_note) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// The columns [`crate::rows::EmergencyGrantRow`] reads.
macro_rules! select_emergency_grants {
    ($where_and_order:literal) => {
        concat!(
            "SELECT institution_id, id, user_id, patient_id, reason, granted_at, expires_at, reviewed_by, \
                    reviewed_at, review_note \
             FROM emergency_grants ",
            $where_and_order
        )
    };
}

/// The user's grants still active at `$3` (at `expires_at` itself a grant has expired),
/// soonest expiry first (then by ID, bytewise on both backends).
pub(crate) const SELECT_ACTIVE_EMERGENCY_GRANTS: &str =
    select_emergency_grants!("WHERE institution_id = $1 AND user_id = $2 AND expires_at > $3 ORDER BY expires_at, id");

/// The review queue and its history: every grant of the institution, newest first.
pub(crate) const SELECT_EMERGENCY_GRANTS: &str =
    select_emergency_grants!("WHERE institution_id = $1 ORDER BY granted_at DESC, id");

pub(crate) const SELECT_EMERGENCY_GRANT: &str = select_emergency_grants!("WHERE institution_id = $1 AND id = $2");

/// One conditional UPDATE: a grant is reviewed once, never by its own user, and of concurrent
/// reviews exactly one changes the row. The reviewer must be a user of the institution
/// (foreign key).
pub(crate) const REVIEW_EMERGENCY_GRANT: &str = "UPDATE emergency_grants \
     SET reviewed_by = $3, reviewed_at = $4, review_note = $5 \
     WHERE institution_id = $1 AND id = $2 AND reviewed_by IS NULL AND user_id <> $3";

/// A user made a sealed emergency account. The user must be a user of the institution
/// (foreign key); an account is sealed once (primary key).
pub(crate) const INSERT_SEALED_ACCOUNT: &str = "INSERT INTO sealed_accounts \
     (institution_id, user_id, generation, sealed_at) VALUES ($1, $2, $3, $4)";

/// The columns [`crate::rows::SealedAccountRow`] reads.
macro_rules! select_sealed_accounts {
    ($where_and_order:literal) => {
        concat!("SELECT institution_id, user_id, generation, sealed_at FROM sealed_accounts ", $where_and_order)
    };
}

pub(crate) const SELECT_SEALED_ACCOUNT: &str = select_sealed_accounts!("WHERE institution_id = $1 AND user_id = $2");

/// Every sealed account of the institution, oldest first (then by user ID, bytewise on both
/// backends).
pub(crate) const SELECT_SEALED_ACCOUNTS: &str =
    select_sealed_accounts!("WHERE institution_id = $1 ORDER BY sealed_at, user_id");

/// Whether the user is a sealed account of the institution. Sealed accounts are never
/// deleted, so an account found here still exists when a later statement names it.
pub(crate) const SEALED_ACCOUNT_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM sealed_accounts WHERE institution_id = $1 AND user_id = $2)";

/// Re-keys a sealed account: one more generation, sealed anew at `$3`. No row means the user
/// is not a sealed account of the institution. On PostgreSQL the UPDATE also locks the row
/// until the transaction ends, serializing concurrent closes.
pub(crate) const BUMP_SEALED_ACCOUNT_GENERATION: &str = "UPDATE sealed_accounts \
     SET generation = generation + 1, sealed_at = $3 \
     WHERE institution_id = $1 AND user_id = $2 \
     RETURNING generation";

/// An activation as given (normally not closed). The account must be a sealed account of the
/// institution and the confirmer a user of it (foreign keys), never the account itself (check).
pub(crate) const INSERT_SEALED_ACTIVATION: &str = "INSERT INTO sealed_activations \
     (institution_id, id, user_id, generation, used_by, reason, confirmed_by, activated_at, expires_at, \
      closed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// The columns [`crate::rows::SealedActivationRow`] reads.
macro_rules! select_sealed_activations {
    ($where_and_order:literal) => {
        concat!(
            "SELECT institution_id, id, user_id, generation, used_by, reason, confirmed_by, activated_at, \
                    expires_at, closed_at \
             FROM sealed_activations ",
            $where_and_order
        )
    };
}

/// The account's activation allowing use at `$3`: not closed and expiring after `$3` (at
/// `expires_at` itself it has expired); the latest by activation time (then by ID, bytewise
/// on both backends) if several.
pub(crate) const SELECT_ACTIVE_SEALED_ACTIVATION: &str = select_sealed_activations!(
    "WHERE institution_id = $1 AND user_id = $2 AND closed_at IS NULL AND expires_at > $3 \
     ORDER BY activated_at DESC, id LIMIT 1"
);

/// The record for review: every activation of the institution, newest first.
pub(crate) const SELECT_SEALED_ACTIVATIONS: &str =
    select_sealed_activations!("WHERE institution_id = $1 ORDER BY activated_at DESC, id");

/// Closes every activation of the account not yet closed (part of closing the account).
pub(crate) const CLOSE_SEALED_ACTIVATIONS: &str = "UPDATE sealed_activations SET closed_at = $3 \
     WHERE institution_id = $1 AND user_id = $2 AND closed_at IS NULL";

/// A category of the institution (foreign key); the schema refuses built-in names.
pub(crate) const INSERT_CATEGORY: &str = "INSERT INTO categories \
     (institution_id, name, label_ja, label_en, created_at) VALUES ($1, $2, $3, $4, $5)";

/// The institution's own categories, by name (bytewise on both backends).
pub(crate) const SELECT_CATEGORIES: &str = "SELECT institution_id, name, label_ja, label_en, created_at \
     FROM categories WHERE institution_id = $1 ORDER BY name";

/// Marks a role of the institution as changed, by `$3` (a user of the institution, foreign key)
/// at `$4`. On PostgreSQL the row stays locked until the transaction ends, serializing
/// concurrent replacements of the role's grants. (An UPDATE, never a delete and insert: the
/// role's grants would go with the row.)
pub(crate) const UPSERT_ROLE_POLICY: &str = "INSERT INTO role_policies \
     (institution_id, role, changed_by, changed_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (institution_id, role) DO UPDATE \
       SET changed_by = excluded.changed_by, changed_at = excluded.changed_at";

pub(crate) const DELETE_ROLE_GRANTS: &str = "DELETE FROM role_grants WHERE institution_id = $1 AND role = $2";

pub(crate) const INSERT_ROLE_GRANT: &str = "INSERT INTO role_grants \
     (institution_id, role, action, category) VALUES ($1, $2, $3, $4)";

/// Every changed role of the institution with its grants: one row per (role, grant), `action`
/// and `category` NULL for a role changed to no grant at all.
pub(crate) const SELECT_ROLE_GRANTS: &str = "SELECT p.role, g.action, g.category \
     FROM role_policies p \
     LEFT JOIN role_grants g \
       ON g.institution_id = p.institution_id AND g.role = p.role \
     WHERE p.institution_id = $1 \
     ORDER BY p.role, g.action, g.category";

// --- The institution's tamper-evident log (migration 0008) ---

/// Creates the institution's head (the empty tree: size 0, `$2` the empty root, `$3` the empty
/// frontier) unless it exists. An unknown institution fails its foreign key. Every append runs
/// it first, so the head row exists for [`PG_LOCK_LOG_HEAD`] to lock; on PostgreSQL a
/// concurrent first append waits here for the other to commit, then does nothing.
pub(crate) const INSERT_LOG_HEAD_IF_MISSING: &str = "INSERT INTO log_heads (institution_id, size, root, frontier) \
     VALUES ($1, 0, $2, $3) \
     ON CONFLICT (institution_id) DO NOTHING";

/// The institution's head with its frontier. SQLite reads it under the write lock
/// (`BEGIN IMMEDIATE`); PostgreSQL locks the row with [`PG_LOCK_LOG_HEAD`] instead.
macro_rules! select_log_head {
    ($suffix:literal) => {
        concat!("SELECT size, root, frontier FROM log_heads WHERE institution_id = $1", $suffix)
    };
}

pub(crate) const SELECT_LOG_HEAD: &str = select_log_head!("");

/// PostgreSQL only: reads the head and locks it until the transaction ends, serializing the
/// institution's appends.
pub(crate) const PG_LOCK_LOG_HEAD: &str = select_log_head!(" FOR UPDATE");

/// A leaf at index `$2` with its hash, its kind (`$5`: `audit` or `record`) and searchable
/// columns. The head must exist (foreign key); the index is unique within the institution
/// (primary key).
pub(crate) const INSERT_LOG_LEAF: &str = "INSERT INTO log_leaves \
     (institution_id, idx, leaf, leaf_hash, kind, at, actor_id, patient_id, action, outcome, category) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// A perfect-subtree node the append completed (level 0 is the leaf hash).
pub(crate) const INSERT_LOG_NODE: &str =
    "INSERT INTO log_nodes (institution_id, level, idx, hash) VALUES ($1, $2, $3, $4)";

/// Moves the head forward from size `$5` (the size read under the lock: a guard, never
/// expected to miss) to `$2`.
pub(crate) const UPDATE_LOG_HEAD: &str = "UPDATE log_heads SET size = $2, root = $3, frontier = $4 \
     WHERE institution_id = $1 AND size = $5";

/// The institution's leaves with indexes in `[$2, $3)`, in order. Leaves and head are
/// committed together, so no leaf beyond the committed size is visible.
pub(crate) const SELECT_LOG_LEAVES: &str = "SELECT idx, leaf, leaf_hash FROM log_leaves \
     WHERE institution_id = $1 AND idx >= $2 AND idx < $3 \
     ORDER BY idx";

/// One stored node of the institution's tree.
pub(crate) const SELECT_LOG_NODE: &str =
    "SELECT hash FROM log_nodes WHERE institution_id = $1 AND level = $2 AND idx = $3";

/// The institution's audit leaves (not its record leaves) matching every filter given (a NULL
/// parameter is no filter): `at` in `[$2, $3)`, actor `$4`, patient `$5`, action `$6`, outcome
/// `$7`, index below `$8`; newest (highest index) first, at most `$9`. One static statement:
/// the backends bind typed NULLs.
pub(crate) const SEARCH_AUDIT_LOG: &str = "SELECT idx, leaf FROM log_leaves \
     WHERE institution_id = $1 AND kind = 'audit' \
       AND ($2 IS NULL OR at >= $2) \
       AND ($3 IS NULL OR at < $3) \
       AND ($4 IS NULL OR actor_id = $4) \
       AND ($5 IS NULL OR patient_id = $5) \
       AND ($6 IS NULL OR action = $6) \
       AND ($7 IS NULL OR outcome = $7) \
       AND ($8 IS NULL OR idx < $8) \
     ORDER BY idx DESC \
     LIMIT $9";

/// Registers a patient: its current row. `changed_by` must be a user of the institution
/// (foreign key); the number is unique in the institution, the ID too (constraints).
pub(crate) const INSERT_PATIENT: &str = "INSERT INTO patients \
     (institution_id, id, number, family, given, family_kana, given_kana, birth_date, sex, phone, address, \
      search_text, version, changed_by, changed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// One conditional UPDATE: the patient's identity becomes version `$13` only if it is at
/// version `$13 - 1`, so of concurrent changes from one version exactly one changes the row.
/// Binds as [`INSERT_PATIENT`] does.
pub(crate) const UPDATE_PATIENT: &str = "UPDATE patients \
     SET number = $3, family = $4, given = $5, family_kana = $6, given_kana = $7, birth_date = $8, sex = $9, \
         phone = $10, address = $11, search_text = $12, version = $13, changed_by = $14, changed_at = $15 \
     WHERE institution_id = $1 AND id = $2 AND version = $13 - 1";

/// One version of a patient's identity, written with the current row it describes (`$13` is
/// the reason: NULL for version 1 only, which the schema checks). Versions are never changed.
pub(crate) const INSERT_PATIENT_VERSION: &str = "INSERT INTO patient_versions \
     (institution_id, patient_id, number, family, given, family_kana, given_kana, birth_date, sex, phone, \
      address, version, reason, changed_by, changed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// The columns [`crate::rows::PatientRow`] reads from the current rows.
macro_rules! select_patients {
    ($where_and_order:literal) => {
        concat!(
            "SELECT institution_id, id, number, family, given, family_kana, given_kana, birth_date, sex, phone, \
                    address, version, changed_by, changed_at \
             FROM patients ",
            $where_and_order
        )
    };
}

pub(crate) const SELECT_PATIENT: &str = select_patients!("WHERE institution_id = $1 AND id = $2");

pub(crate) const SELECT_PATIENT_BY_NUMBER: &str = select_patients!("WHERE institution_id = $1 AND number = $2");

/// Every version of a patient, oldest first, with its reason.
pub(crate) const SELECT_PATIENT_VERSIONS: &str = "SELECT institution_id, patient_id AS id, number, family, given, \
            family_kana, given_kana, birth_date, sex, phone, address, version, changed_by, changed_at, reason \
     FROM patient_versions \
     WHERE institution_id = $1 AND patient_id = $2 \
     ORDER BY version";

/// SQLite's patient search: the number (lower-cased) matches the `LIKE` pattern `$2` (the key
/// with `\`, `%` and `_` escaped, then `%`), or the normalized name contains `$3` (`instr`, no
/// wildcards); by number, at most `$4`.
pub(crate) const SQLITE_SEARCH_PATIENTS: &str = select_patients!(
    "WHERE institution_id = $1 AND (lower(number) LIKE $2 ESCAPE '\\' OR instr(search_text, $3) > 0) \
     ORDER BY number \
     LIMIT $4"
);

/// PostgreSQL's patient search: as [`SQLITE_SEARCH_PATIENTS`], with `strpos` for `instr`.
pub(crate) const PG_SEARCH_PATIENTS: &str = select_patients!(
    "WHERE institution_id = $1 AND (lower(number) LIKE $2 ESCAPE '\\' OR strpos(search_text, $3) > 0) \
     ORDER BY number \
     LIMIT $4"
);

// --- Clinical records (migration 0010): master entries, devices, records and their versions ---

/// One version of a master entry. `imported_by`, when not NULL, must be a user of the
/// institution (foreign key); (master, code, version) is unique in it (primary key).
pub(crate) const INSERT_MASTER_ENTRY: &str = "INSERT INTO master_entries \
     (institution_id, master, code, version, name, unit, reference_range, valid_from, valid_to, imported_at, \
      imported_by) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// The columns [`crate::rows::MasterEntryRow`] reads.
macro_rules! select_master_entries {
    ($where_and_order:literal) => {
        concat!(
            "SELECT m.institution_id, m.master, m.code, m.version, m.name, m.unit, m.reference_range, \
                    m.valid_from, m.valid_to, m.imported_at, m.imported_by \
             FROM master_entries m ",
            $where_and_order
        )
    };
}

/// The entry of a code valid on day `$4` (`valid_from <= $4 < valid_to`); of several, the
/// highest version.
pub(crate) const SELECT_MASTER_ENTRY: &str = select_master_entries!(
    "WHERE m.institution_id = $1 AND m.master = $2 AND m.code = $3 \
       AND m.valid_from <= $4 AND (m.valid_to IS NULL OR m.valid_to > $4) \
     ORDER BY m.version DESC \
     LIMIT 1"
);

/// Every version of one code, oldest first.
pub(crate) const SELECT_MASTER_VERSIONS: &str =
    select_master_entries!("WHERE m.institution_id = $1 AND m.master = $2 AND m.code = $3 ORDER BY m.version");

/// SQLite's master search: entries of one master valid on day `$3`, one per code (its highest
/// version valid that day), whose code (lower-cased) matches the `LIKE` pattern `$4` (the key
/// with `\`, `%` and `_` escaped, then `%`) or whose name contains `$5` (`instr`, no
/// wildcards); by code (bytewise on both backends), at most `$6`.
pub(crate) const SQLITE_SEARCH_MASTER: &str = select_master_entries!(
    "WHERE m.institution_id = $1 AND m.master = $2 \
       AND m.valid_from <= $3 AND (m.valid_to IS NULL OR m.valid_to > $3) \
       AND m.version = (SELECT max(v.version) FROM master_entries v \
                        WHERE v.institution_id = $1 AND v.master = m.master AND v.code = m.code \
                          AND v.valid_from <= $3 AND (v.valid_to IS NULL OR v.valid_to > $3)) \
       AND (lower(m.code) LIKE $4 ESCAPE '\\' OR instr(m.name, $5) > 0) \
     ORDER BY m.code \
     LIMIT $6"
);

/// PostgreSQL's master search: as [`SQLITE_SEARCH_MASTER`], with `strpos` for `instr`.
pub(crate) const PG_SEARCH_MASTER: &str = select_master_entries!(
    "WHERE m.institution_id = $1 AND m.master = $2 \
       AND m.valid_from <= $3 AND (m.valid_to IS NULL OR m.valid_to > $3) \
       AND m.version = (SELECT max(v.version) FROM master_entries v \
                        WHERE v.institution_id = $1 AND v.master = m.master AND v.code = m.code \
                          AND v.valid_from <= $3 AND (v.valid_to IS NULL OR v.valid_to > $3)) \
       AND (lower(m.code) LIKE $4 ESCAPE '\\' OR strpos(m.name, $5) > 0) \
     ORDER BY m.code \
     LIMIT $6"
);

/// The highest version of each code of every master of the institution, valid or not, by
/// master (as text) then code: what an import compares against.
pub(crate) const SELECT_MASTER_LATEST: &str = select_master_entries!(
    "WHERE m.institution_id = $1 \
       AND m.version = (SELECT max(v.version) FROM master_entries v \
                        WHERE v.institution_id = $1 AND v.master = m.master AND v.code = m.code) \
     ORDER BY m.master, m.code"
);

/// A device of the institution, registered by a user of it (foreign key). Its name is unique
/// in the institution, its token hash in the deployment (constraints).
pub(crate) const INSERT_DEVICE: &str = "INSERT INTO devices \
     (institution_id, id, name, token_hash, registered_by, registered_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The columns [`crate::rows::DeviceRow`] reads.
macro_rules! select_devices {
    ($where_and_order:literal) => {
        concat!(
            "SELECT institution_id, id, name, token_hash, registered_by, registered_at, revoked_at FROM devices ",
            $where_and_order
        )
    };
}

/// Deployment-level: a device's request carries only its token; the device names its
/// institution, and every later statement on its behalf binds that institution.
pub(crate) const SELECT_DEVICE_BY_TOKEN: &str = select_devices!("WHERE token_hash = $1");

/// The institution's devices, revoked ones included, by name (bytewise on both backends).
pub(crate) const SELECT_DEVICES: &str = select_devices!("WHERE institution_id = $1 ORDER BY name");

/// One conditional UPDATE: a device is revoked once, and of concurrent revocations exactly one
/// changes the row.
pub(crate) const REVOKE_DEVICE: &str = "UPDATE devices SET revoked_at = $3 \
     WHERE institution_id = $1 AND id = $2 AND revoked_at IS NULL";

/// A record. The patient, and the creating user or device, must be the institution's (foreign
/// keys); the ID is unique in it (primary key).
pub(crate) const INSERT_RECORD: &str = "INSERT INTO records \
     (institution_id, id, patient_id, kind, category, created_by_user, created_by_device, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The columns [`crate::rows::RecordRow`] reads.
pub(crate) const SELECT_RECORD: &str = "SELECT institution_id, id, patient_id, kind, category, created_by_user, \
            created_by_device, created_at \
     FROM records WHERE institution_id = $1 AND id = $2";

/// One version as written (a record's first, or a correction or cancellation, final at once).
/// Its record, and every user and device it names, must be the institution's (foreign keys);
/// (record, version) and a leaf index are unique in it (constraints).
pub(crate) const INSERT_RECORD_VERSION: &str = "INSERT INTO record_versions \
     (institution_id, record_id, version, change, state, content, reason, author_user, author_device, proxy_for, \
      entered_at, updated_at, finalized_by_user, finalized_by_device, finalized_at, leaf_index, rejected_by, \
      reject_reason) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

/// The columns [`crate::rows::RecordVersionRow`] reads: a version with its record.
macro_rules! select_record_versions {
    ($where_and_order:literal) => {
        concat!(
            "SELECT r.institution_id, r.id, r.patient_id, r.kind, r.category, r.created_by_user, \
                    r.created_by_device, r.created_at, \
                    v.version, v.change, v.state, v.content, v.reason, v.author_user, v.author_device, v.proxy_for, \
                    v.entered_at, v.updated_at, v.finalized_by_user, v.finalized_by_device, v.finalized_at, \
                    v.leaf_index, v.rejected_by, v.reject_reason \
             FROM record_versions v \
             JOIN records r ON r.institution_id = v.institution_id AND r.id = v.record_id ",
            $where_and_order
        )
    };
}

pub(crate) const SELECT_RECORD_VERSION: &str =
    select_record_versions!("WHERE v.institution_id = $1 AND v.record_id = $2 AND v.version = $3");

/// Every version of a record, oldest first.
pub(crate) const SELECT_RECORD_VERSIONS: &str =
    select_record_versions!("WHERE v.institution_id = $1 AND v.record_id = $2 ORDER BY v.version");

/// Every version of every record of a patient, by the record's creation (then its ID, bytewise
/// on both backends), then by version; at most `$3` (one more than a chart answers, to tell
/// that there are too many).
pub(crate) const SELECT_PATIENT_RECORD_VERSIONS: &str = select_record_versions!(
    "WHERE r.institution_id = $1 AND r.patient_id = $2 \
     ORDER BY r.created_at, r.id, v.version \
     LIMIT $3"
);

/// A doctor's approval queue: the proxy entries for `$2` still pending, oldest entry first
/// (the partial index `record_versions_approval_queue`), at most `$3`.
pub(crate) const SELECT_APPROVAL_QUEUE: &str = select_record_versions!(
    "WHERE v.institution_id = $1 AND v.proxy_for = $2 AND v.state = 'pending_approval' \
     ORDER BY v.entered_at, v.record_id, v.version \
     LIMIT $3"
);

/// How many versions of the institution are final (each is a leaf of its log).
pub(crate) const COUNT_FINAL_VERSIONS: &str =
    "SELECT COUNT(*) FROM record_versions WHERE institution_id = $1 AND state = 'final'";

/// One conditional UPDATE: the content of a draft (`$5`) written by its author (`$4`), saved at
/// `$6`. No row changed means no such draft of that author.
pub(crate) const UPDATE_DRAFT: &str = "UPDATE record_versions SET content = $5, updated_at = $6 \
     WHERE institution_id = $1 AND record_id = $2 AND version = $3 AND state = 'draft' AND author_user = $4";

/// One conditional UPDATE: a draft its author (`$4`) throws away at `$5`. The row is kept.
pub(crate) const DISCARD_DRAFT: &str = "UPDATE record_versions SET state = 'discarded', updated_at = $5 \
     WHERE institution_id = $1 AND record_id = $2 AND version = $3 AND state = 'draft' AND author_user = $4";

/// One conditional UPDATE: a draft finalized by its author (`$4`) at `$5` as leaf `$6`, only
/// if its content is still exactly `$7` (what the leaf hashed). Of concurrent finalizations
/// exactly one changes the row.
pub(crate) const FINALIZE_DRAFT: &str = "UPDATE record_versions \
     SET state = 'final', finalized_by_user = $4, finalized_at = $5, leaf_index = $6, updated_at = $5 \
     WHERE institution_id = $1 AND record_id = $2 AND version = $3 AND state = 'draft' AND author_user = $4 \
       AND content = $7";

/// One conditional UPDATE: a proxy entry approved by its doctor (`$4`), as [`FINALIZE_DRAFT`].
pub(crate) const FINALIZE_PENDING: &str = "UPDATE record_versions \
     SET state = 'final', finalized_by_user = $4, finalized_at = $5, leaf_index = $6, updated_at = $5 \
     WHERE institution_id = $1 AND record_id = $2 AND version = $3 AND state = 'pending_approval' \
       AND proxy_for = $4 AND content = $7";

/// One conditional UPDATE: a proxy entry rejected by its doctor (`$4`) with the reason `$5` at
/// `$6`.
pub(crate) const REJECT_VERSION: &str = "UPDATE record_versions \
     SET state = 'rejected', rejected_by = $4, reject_reason = $5, updated_at = $6 \
     WHERE institution_id = $1 AND record_id = $2 AND version = $3 AND state = 'pending_approval' \
       AND proxy_for = $4";

/// Whether the institution has this patient (after a foreign-key failure on SQLite, which does
/// not say which key failed). Patients are never deleted.
pub(crate) const PATIENT_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM patients WHERE institution_id = $1 AND id = $2)";

/// Whether the institution has this user (as [`PATIENT_EXISTS`]).
pub(crate) const USER_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE institution_id = $1 AND id = $2)";

/// Whether the institution has this device (as [`PATIENT_EXISTS`]). Devices are never deleted.
pub(crate) const DEVICE_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM devices WHERE institution_id = $1 AND id = $2)";

/// Whether the institution has this record (as [`PATIENT_EXISTS`]). Records are never deleted.
pub(crate) const RECORD_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM records WHERE institution_id = $1 AND id = $2)";

// --- Assessments (migration 0011): assessments, their items' versions, evidence revisions ---

/// An assessment. Its creator must be a user of the institution, and `carried_from`, when not
/// NULL, an assessment of it (foreign keys); the ID is unique in it (primary key).
pub(crate) const INSERT_ASSESSMENT: &str = "INSERT INTO assessments \
     (institution_id, id, catalog, title, period_start, period_end, carried_from, created_by, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// The columns [`crate::rows::AssessmentRow`] reads.
macro_rules! select_assessments {
    ($where_and_order:literal) => {
        concat!(
            "SELECT institution_id, id, catalog, title, period_start, period_end, carried_from, created_by, \
                    created_at \
             FROM assessments ",
            $where_and_order
        )
    };
}

/// The institution's assessments, newest first (then by ID, bytewise on both backends).
pub(crate) const SELECT_ASSESSMENTS: &str =
    select_assessments!("WHERE institution_id = $1 ORDER BY created_at DESC, id");

pub(crate) const SELECT_ASSESSMENT: &str = select_assessments!("WHERE institution_id = $1 AND id = $2");

/// The current row of an item, its version 1 when written with its assessment. Its assessment,
/// owner and author must be the institution's (foreign keys); (assessment, item) is unique in it
/// (primary key).
pub(crate) const INSERT_ASSESSMENT_ITEM: &str = "INSERT INTO assessment_items \
     (institution_id, assessment_id, item, state, owner, due_on, next_review_on, notes, version, changed_by, \
      changed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// One conditional UPDATE: the item becomes version `$9` only if it is at version `$9 - 1`, so
/// of concurrent changes from one version exactly one changes the row. Binds as
/// [`INSERT_ASSESSMENT_ITEM`] does.
pub(crate) const UPDATE_ASSESSMENT_ITEM: &str = "UPDATE assessment_items \
     SET state = $4, owner = $5, due_on = $6, next_review_on = $7, notes = $8, version = $9, changed_by = $10, \
         changed_at = $11 \
     WHERE institution_id = $1 AND assessment_id = $2 AND item = $3 AND version = $9 - 1";

/// One version of an item, written with the current row it describes. Versions are never
/// changed. Binds as [`INSERT_ASSESSMENT_ITEM`] does.
pub(crate) const INSERT_ASSESSMENT_ITEM_VERSION: &str = "INSERT INTO assessment_item_versions \
     (institution_id, assessment_id, item, state, owner, due_on, next_review_on, notes, version, changed_by, \
      changed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// The current version of every item of an assessment, by item (bytewise on both backends).
pub(crate) const SELECT_ASSESSMENT_ITEMS: &str = "SELECT institution_id, assessment_id, item, state, owner, due_on, \
            next_review_on, notes, version, changed_by, changed_at \
     FROM assessment_items \
     WHERE institution_id = $1 AND assessment_id = $2 \
     ORDER BY item";

/// Every version of one item, oldest first.
pub(crate) const SELECT_ITEM_HISTORY: &str = "SELECT institution_id, assessment_id, item, state, owner, due_on, \
            next_review_on, notes, version, changed_by, changed_at \
     FROM assessment_item_versions \
     WHERE institution_id = $1 AND assessment_id = $2 AND item = $3 \
     ORDER BY version";

/// One revision of a piece of evidence. Its item (assessment and item), owner and author must be
/// the institution's (foreign keys); (ID, revision) is unique in it (primary key).
pub(crate) const INSERT_EVIDENCE: &str = "INSERT INTO evidence \
     (institution_id, id, revision, assessment_id, item, title, kind, file_name, file_sha256, file_size, url, \
      owner, effective_on, expires_on, added_by, added_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// Every revision of every piece of evidence of an assessment, by item, evidence ID (bytewise
/// on both backends), then revision (the index `evidence_by_item`).
pub(crate) const SELECT_EVIDENCE: &str = "SELECT institution_id, id, revision, assessment_id, item, title, kind, \
            file_name, file_sha256, file_size, url, owner, effective_on, expires_on, added_by, added_at \
     FROM evidence \
     WHERE institution_id = $1 AND assessment_id = $2 \
     ORDER BY item, id, revision";

/// Whether the institution has this assessment (after a foreign-key failure on SQLite, as
/// [`PATIENT_EXISTS`]). Assessments are never deleted.
pub(crate) const ASSESSMENT_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM assessments WHERE institution_id = $1 AND id = $2)";

/// Whether the institution's assessment `$2` has the item `$3` (as [`ASSESSMENT_EXISTS`]). Items
/// are never deleted.
pub(crate) const ASSESSMENT_ITEM_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM assessment_items \
     WHERE institution_id = $1 AND assessment_id = $2 AND item = $3)";

/// Adds a version of an institution's applicability decision (a taken version is a unique
/// violation).
pub(crate) const INSERT_APPLICABILITY: &str = "INSERT INTO applicability_decisions \
     (institution_id, version, flowchart, answers, outcome, applies, basis, notes, decided_by, decided_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Every version of an institution's applicability decision, oldest first.
pub(crate) const SELECT_APPLICABILITY: &str = "SELECT institution_id, version, flowchart, answers, outcome, \
            applies, basis, notes, decided_by, decided_at \
     FROM applicability_decisions WHERE institution_id = $1 ORDER BY version";

// --- Registers (migration 0012): the compliance workbench's 台帳・一覧, versioned entries ---

/// A new entry's row (version 1). Its creator, when not NULL, must be a user of the
/// institution, and the institution must exist (foreign keys); the ID is unique in it.
pub(crate) const INSERT_REGISTER_ENTRY: &str = "INSERT INTO register_entries \
     (institution_id, id, kind, version, retired, created_by, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// One version of an entry, written with the entry's row it describes. Versions are never
/// changed.
pub(crate) const INSERT_REGISTER_VERSION: &str = "INSERT INTO register_entry_versions \
     (institution_id, entry_id, version, fields, retired_reason, author, at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// One conditional UPDATE: the entry (of register `$5`) becomes version `$3` (retired: `$4`)
/// only if it is at version `$3 - 1` and not retired, so of concurrent changes from one
/// version exactly one changes the row.
pub(crate) const UPDATE_REGISTER_ENTRY: &str = "UPDATE register_entries SET version = $3, retired = $4 \
     WHERE institution_id = $1 AND id = $2 AND version = $3 - 1 AND NOT retired AND kind = $5";

/// The columns [`crate::rows::RegisterRow`] reads: an entry with one of its versions.
macro_rules! select_register {
    ($join:literal, $where_and_order:literal) => {
        concat!(
            "SELECT e.institution_id, e.id, e.kind, v.version, v.fields, v.retired_reason, v.author, v.at \
             FROM register_entries e JOIN register_entry_versions v \
               ON v.institution_id = e.institution_id AND v.entry_id = e.id ",
            $join,
            " ",
            $where_and_order
        )
    };
}

/// The current version of every entry of one register, oldest entry first (then by ID).
pub(crate) const SELECT_REGISTER_ENTRIES: &str = select_register!(
    "AND v.version = e.version",
    "WHERE e.institution_id = $1 AND e.kind = $2 ORDER BY e.created_at, e.id"
);

/// The current version of one entry.
pub(crate) const SELECT_REGISTER_ENTRY: &str =
    select_register!("AND v.version = e.version", "WHERE e.institution_id = $1 AND e.id = $2");

/// Every version of one entry, oldest first.
pub(crate) const SELECT_REGISTER_HISTORY: &str =
    select_register!("", "WHERE e.institution_id = $1 AND e.id = $2 ORDER BY v.version");
