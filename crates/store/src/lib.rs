//! mamori's persistence: one [`Store`] trait, two backends ([`SqliteStore`], the default, and
//! [`PgStore`]), each with its own embedded migrations, and one conformance suite
//! (`tests/conformance.rs`) that runs the same checks against both.
//!
//! # Invariants
//!
//! - **Every query of institution data names the institution.** Each statement that reads or
//!   writes users, roles, second factors (TOTP, recovery codes, WebAuthn credentials),
//!   re-enrollment passes, sessions, pending WebAuthn ceremonies, registered terminals,
//!   emergency grants, sealed accounts and their activations, the institution's own categories,
//!   its changed role grants, its log (`log_heads`, `log_leaves`, `log_nodes`), its patients
//!   (`patients`, `patient_versions`), its clinical records (`records`, `record_versions`), its
//!   master (`master_entries`), its devices (`devices`), its assessments (`assessments`,
//!   `assessment_items`, `assessment_item_versions`, `evidence`) or an
//!   institution's settings (the registered-terminal rule, read and written by institution ID)
//!   binds `institution_id` in its `WHERE` clause (or in the key it inserts), and every table
//!   of institution data (`terminals`, `emergency_grants`, `sealed_accounts`,
//!   `sealed_activations`, `categories`, `role_policies`, `role_grants`, the three log
//!   tables, `patients`, `patient_versions`, `records`, `record_versions`, `master_entries`,
//!   `devices`, `assessments`, `assessment_items`, `assessment_item_versions` and `evidence`
//!   included) has `institution_id` in its primary key, except `sessions`,
//!   `reenroll_passes` and `webauthn_challenges`, keyed by the SHA-256 of their secret (a
//!   ceremony by its session's token hash), with `institution_id` a column every statement
//!   binds. A user of one institution is invisible through another institution's ID, and so
//!   are its second factors, passes, sessions, ceremonies, terminals, emergency grants, sealed
//!   accounts, activations, categories, role grants, log (each institution has a tree of its
//!   own), patients (lookups, versions and searches alike), records and their versions, master
//!   entries, devices and assessments (their items, item versions and evidence); a pass's user and issuer, an emergency grant's user and
//!   reviewer, a sealed account's user, an activation's confirmer and a role change's author
//!   are users of its institution, and an activation's account a sealed account of it (foreign
//!   keys); so are a record's patient and creator, and every user and device a version names
//!   (its author, proxy doctor, finalizer and rejecter), a device's registrar and a master
//!   entry's importer, and an assessment's creator, an item's owner and author and a piece of
//!   evidence's owner and author (as are an assessment's predecessor, an item's assessment and
//!   evidence's item); a ceremony is stored only for a session of the institution named (and
//!   deleted with it, `ON DELETE CASCADE`), and a role's grants only for a changed role of the
//!   institution (`role_policies`, likewise).
//!   The only statements that range over all institutions are deployment-level, each marked in
//!   `sql.rs`: listing institutions, asking whether any exists, finding a login ID (unique
//!   across the deployment), the login throttles (keyed by the login ID as typed, known or
//!   not), finding a session by its token hash (the record then names its institution), and
//!   finding a device by its token hash (likewise; device token hashes are unique across the
//!   deployment, so registering a taken one anywhere is a [`StoreError::Conflict`]).
//!   WebAuthn credential IDs are unique across the deployment too (a unique index on the ID
//!   alone), so registering one taken in another institution is a [`StoreError::Conflict`]; no
//!   statement reads another institution's credentials. The same holds for terminal
//!   certificate fingerprints (a unique constraint on the fingerprint alone): a fingerprint
//!   registered in one institution is a [`StoreError::Conflict`] in any other, and the lookup
//!   by fingerprint names the institution, so it never finds another institution's terminal;
//!   deleting the sessions of a certificate deletes only sessions of the institution named.
//!   All statements are static text in `sql.rs` with bound parameters.
//! - **Single-use secrets are used once.** A TOTP time step, a recovery code and a
//!   re-enrollment pass are each consumed by one conditional `UPDATE` whose affected-row count
//!   is the answer, so of concurrent attempts exactly one succeeds; a pass also only before its
//!   `expires_at` (at that instant it is expired). A pending WebAuthn ceremony is taken by one
//!   `DELETE ... RETURNING`, so of concurrent takes exactly one gets the row; its state is
//!   returned only for the purpose it was stored for and before its `expires_at`, and the row is
//!   gone either way: a challenge is used at most once. A session has at most one pending
//!   ceremony (a new one replaces it). A terminal is revoked by one conditional `UPDATE` too:
//!   of concurrent revocations exactly one answers `true`, and the first `revoked_at` stays.
//!   An emergency grant is reviewed once, by one conditional `UPDATE` that also requires the
//!   reviewer not to be the grant's user: of concurrent reviews exactly one answers `true`, the
//!   first review stays, and nobody reviews their own grant (the schema refuses it too,
//!   `emergency_grants_no_self_review`). Session tokens, recovery codes and passes are stored
//!   only as SHA-256 digests.
//! - **Login IDs are unique across the deployment and never reused.** The `users.login_id`
//!   column is `UNIQUE` over all institutions, whatever the account's status, and the store has
//!   no delete path for users: a retired account keeps its login ID forever. Creating a user
//!   with a taken login ID gives [`StoreError::Conflict`].
//! - **Terminal names are never reused.** `terminals` is `UNIQUE (institution_id, name)` and the
//!   store has no delete path for terminals: revocation sets `revoked_at` and keeps the row, so
//!   a name used once in an institution is a [`StoreError::Conflict`] there forever (another
//!   institution may use it). Lists include revoked terminals. The registered-terminal rule of
//!   an institution is off until turned on (`institutions.require_registered_terminal`,
//!   `DEFAULT FALSE`, migration 0005), and asking about an unknown institution is
//!   [`StoreError::NotFound`], never a silent `false`.
//! - **Emergency grants are kept and time-limited.** The store has no delete path for
//!   `emergency_grants` (migration 0006): the review queue and its history are the same rows,
//!   newest first. A grant allows access only while `at < expires_at` (at `expires_at` itself
//!   it has expired, as [`mamori_core::emergency::EmergencyGrantRecord::active_at`] says), and
//!   the schema keeps `expires_at` after `granted_at`, a reason of 1 to 500 characters, a
//!   review note of at most 1000, and a review whole (reviewer, time and note all set or all
//!   NULL). The patient is not a foreign key (grants predate the patients table of migration
//!   0009).
//! - **Sealed accounts are activated by a second person, for a time, and re-keyed when
//!   closed.** `sealed_accounts` and `sealed_activations` (migration 0007) have no delete path:
//!   the activations are the record for review, newest first. The schema refuses an activation
//!   confirmed by the account itself (`sealed_activations_no_self_confirmation`), an
//!   `expires_at` not after `activated_at`, a `closed_at` before it, a `used_by` not 1 to 100 or
//!   a reason not 1 to 500 characters, and a generation below 1. An activation allows use only
//!   while it is not closed and `at < expires_at` (as
//!   [`mamori_core::sealed::SealedActivation::active_at`] says). [`Store::close_sealed_account`]
//!   closes the account's open activations and raises its generation in one transaction.
//! - **Changed role grants are replaced whole.** An institution's categories (`categories`)
//!   are never built-in names (the schema checks the name as
//!   [`mamori_core::authz::Category::parse`] does, and refuses the six built-in ones) and are
//!   never deleted. A role the institution changed has a `role_policies` row (who, when) and
//!   its grants in `role_grants`, possibly none: "no clinical right", not "the defaults".
//!   [`Store::set_role_grants`] replaces them in one transaction (all or none); a grant's
//!   category is not a foreign key (built-in categories are not rows), the application checks
//!   it.
//! - **The log is append-only, one tree per institution, appended to one writer at a time.**
//!   `log_leaves` and `log_nodes` (migration 0008) have no update or delete path: the store has
//!   none, and the schema refuses any `UPDATE` or `DELETE` of them (triggers; on PostgreSQL
//!   `TRUNCATE` too). Only `log_heads` changes, and never to a smaller size.
//!   [`Store::append_log`] reads the head's frontier, writes each leaf at the next index with
//!   every perfect-subtree node it completes ([`mamori_ledger::Frontier::append`]) and moves
//!   the head, in one transaction that holds the write lock (SQLite, `BEGIN IMMEDIATE`) or the
//!   head row's lock (PostgreSQL, `SELECT ... FOR UPDATE` after an insert-if-missing), so the
//!   appends of an institution are serialized and concurrent appends get consecutive indexes,
//!   each exactly once; on any error nothing is appended. A stored frontier that does not
//!   parse, or does not describe the head's size and root, is [`StoreError::Corrupt`] and
//!   stops appends. The reads are bounded: 10 000 leaves, 1000 nodes
//!   ([`StoreError::TooMany`] beyond), 1000 search results. A leaf is an audit event or a
//!   finalized record version, its `kind` column (`audit` or `record`, migration 0010) the
//!   entry's [`mamori_core::audit::LeafKind`]; [`Store::audit_search`] finds audit leaves only.
//! - **Patients are versioned, and their versions are append-only.** `patients` (migration
//!   0009) holds each patient's current identity, its number unique within the institution
//!   (`UNIQUE (institution_id, number)`; another institution may use the same number), and
//!   `patient_versions` every version of it, the registration (version 1, no reason) included;
//!   every later version carries its reason (1 to 500 characters, a schema check). Versions
//!   have no update or delete path: the store has none, and the schema refuses any `UPDATE` or
//!   `DELETE` of them (triggers; on PostgreSQL `TRUNCATE` too); patients have no delete path
//!   either (their versions refer to them). [`StoreTx::create_patient`] writes the row and
//!   version 1 together; [`StoreTx::update_patient`] is one conditional `UPDATE` from the
//!   previous version followed by the new version's row, so of concurrent changes from one
//!   version exactly one wins and a stale change changes nothing. The schema checks the core
//!   rules' lengths (names 1–50 characters, number 1–20 ASCII letters, digits or `-`, phone at
//!   most 20, address at most 200, birth date a date) and every read parses the row back with
//!   [`mamori_core::patient`]. [`Store::search_patients`] matches a number by prefix (ASCII case
//!   ignored; `LIKE` with `%`, `_` and `\` escaped, so they match themselves) or the stored
//!   [`mamori_core::patient::PatientName::search_text`] by substring (`instr` on SQLite,
//!   `strpos` on PostgreSQL: no wildcards), by number, at most 200.
//! - **Records are versioned, and a version that is final never changes.** `records` (migration
//!   0010) holds what never changes about a record (patient, kind, category, creator: a user or
//!   a device, exactly one), `record_versions` every version of it with its content as the
//!   canonical JSON text of [`mamori_core::record::Content`] (`TEXT`, byte for byte, on both
//!   backends: never `JSONB`, which would reorder it), and every read parses it back with
//!   [`mamori_core::record::Content::from_stored`], which refuses any other bytes
//!   ([`StoreError::Corrupt`]). Records and master entries have no update or delete path, and
//!   devices and versions no delete path: the store has none, and the schema refuses them
//!   (triggers; on PostgreSQL `TRUNCATE` too). A version changes only while it is a draft or
//!   pending approval, only by one conditional `UPDATE` of the store
//!   ([`StoreTx::update_draft`], [`StoreTx::discard_draft`], [`StoreTx::finalize_version`],
//!   [`StoreTx::reject_version`]) whose affected-row count is the answer, so of concurrent
//!   changes exactly one wins; and it keeps its record, number, change, author, proxy doctor,
//!   entry time and reason. A version that is final, discarded or rejected has no update path:
//!   the store has none, and the schema refuses any `UPDATE` of it (trigger
//!   `record_versions_settled_never_change`, or `record_versions_guard` on PostgreSQL). A draft
//!   is finalized only by its author and a proxy entry only by its doctor, only with the
//!   content byte for byte that its leaf hashed, and never by a device (a device's data is
//!   final on arrival). The schema also refuses a final version without its finalizer (one
//!   user or one device), time and leaf index, or any of those on a version that is not final;
//!   a leaf index two versions share; a version 1 that is not the original or a later version
//!   that is; a correction or cancellation that is not final with a reason (1 to 500
//!   characters); a pending or rejected entry without its doctor, or a proxy entry by a
//!   device; a rejection without its doctor and reason (1 to 500) or on a version not
//!   rejected; a draft that moves to anything but final or discarded, and a proxy entry to
//!   anything but final or rejected. Master entries are versioned per (master, code), valid
//!   from `valid_from` to before `valid_to` (a later day, checked), found by the highest version
//!   valid on a day; devices have names unique in the institution, token hashes unique in the
//!   deployment, and one change, their revocation, once (a trigger refuses any other).
//!   [`Store::patient_record_versions`] answers at most 5000 versions ([`StoreError::TooMany`]
//!   beyond), [`Store::approval_queue`] 500, [`Store::search_master`] 200.
//! - **Assessments are versioned item by item, and item versions and evidence are
//!   append-only.** `assessments` (migration 0011) holds each assessment (catalog, title,
//!   period, the assessment it was carried over from, creator), `assessment_items` the current
//!   version of each of its items and `assessment_item_versions` every version of them, version
//!   1 (written with the assessment, [`StoreTx::create_assessment`], all or none) included;
//!   `evidence` every revision of every piece of evidence for an item (a whole file, its name,
//!   SHA-256 and size, or an https link, never both). Assessments, item versions and evidence
//!   have no update or delete path, and items no delete path: the store has none, and the
//!   schema refuses them (triggers; on PostgreSQL `TRUNCATE` too). [`StoreTx::update_item`] is
//!   one conditional `UPDATE` of the item's current row from the previous version followed by
//!   the new version's row, so of concurrent changes from one version exactly one wins and a
//!   stale change changes nothing. The schema checks the core rules' lengths (catalog 1–40 of
//!   `a-z0-9.-`, titles 1–100 and 1–200, item 1–100 characters without control characters,
//!   notes at most 4000, URL at most 2000, a file's SHA-256 32 bytes, an expiry after the day
//!   evidence takes effect, a period that does not end before it starts), and every read
//!   parses the row back with [`mamori_core::assessment`] (a stored value its checks would
//!   change is [`StoreError::Corrupt`]).
//! - **Register entries are versioned and their versions append-only.** `register_entries`
//!   (migration 0012) holds each entry of the compliance registers (its register, current
//!   version, whether that version retired it, creator) and `register_entry_versions` every
//!   version (the fields as canonical JSON, the retirement's reason, author — none for an
//!   operator's import — and time). [`StoreTx::create_register_entries`] writes version 1 of
//!   one or many entries (all or none with the unit); [`StoreTx::add_register_version`] is one
//!   conditional `UPDATE` from the previous version of an entry that is not retired, then the
//!   version's row. Versions have no update or delete path and entries no delete path, nor a
//!   change of register, ID or creation (triggers; on PostgreSQL `TRUNCATE` too), and every
//!   read parses the fields back with [`mamori_core::register::check`] (fields it would change
//!   are [`StoreError::Corrupt`]).
//! - **A vendor's disclosure is recorded whole, and its risk records are versioned.**
//!   `vendor_disclosures`, `vendor_answers`, `vendor_risks` and `vendor_risk_versions`
//!   (migration 0013): [`StoreTx::record_vendor_disclosure`] writes the disclosure, its answers
//!   and version 1 of one risk per いいえ (checked first) in one step; the schema refuses a risk
//!   for any other answer, a second disclosure of the same generation of a vendor's product and
//!   catalog, and any update or delete of disclosures, answers and risk versions;
//!   [`StoreTx::update_vendor_risk`] is one conditional `UPDATE` from the previous version plus
//!   the version's row. Reads parse rows back with [`mamori_core::vendor`]'s checks.
//! - **Retired is final.** [`Store::set_user_status`] changes no retired account (it answers
//!   [`StoreError::Conflict`]), and the schema refuses any other statement that would (trigger
//!   `users_retired_is_final`, migration 0003).
//! - **Bootstrap is atomic.** [`Store::bootstrap`] checks that no institution exists and
//!   inserts the institution, the administrator and its roles in one transaction that also
//!   serializes concurrent bootstraps; on any error nothing is left behind. The same holds for
//!   [`Store::create_user`] (user row and roles together), [`Store::set_user_roles`] (all roles
//!   replaced or none), [`Store::replace_recovery_codes`], [`Store::delete_second_factors`]
//!   (TOTP enrollment, recovery codes and WebAuthn credentials together),
//!   [`Store::close_sealed_account`] and [`Store::set_role_grants`].
//! - **An action and its audit events are one unit of work.** [`Store::begin`] opens a
//!   transaction, a [`StoreTx`], offering the 48 mutations an audited action needs, the log's
//!   append among them: others see its writes only after [`StoreTx::commit`], and a unit that
//!   is dropped, or in which any step failed (later steps and the commit are then refused),
//!   leaves none of them. Each of those mutations is written once, on the transaction's
//!   connection (`sqlite/write.rs`, `postgres/write.rs`); the pool-level [`Store`] method of
//!   the same name runs that one function in a transaction of its own (begin, call, commit),
//!   so the two cannot drift apart, and no step takes a second connection from the pool. On
//!   SQLite every such transaction is `BEGIN IMMEDIATE`: units and pool-level mutations are
//!   serialized by the write lock from their start. On PostgreSQL it is `READ COMMITTED` (set
//!   explicitly, whatever the server's default): appends to one institution's log are
//!   serialized by its head row's lock, held to the end of the unit, so concurrent units keep
//!   the log consistent, and a conditional `UPDATE` that meets a row locked by another unit
//!   waits and re-checks, so single-use secrets stay single-use. A unit appending to two
//!   institutions' logs locks their heads in that order; two units taking them in opposite
//!   orders deadlock, which PostgreSQL ends by failing one of them (drop it and start again).
//! - **Values round-trip exactly.** IDs are stored as UUIDs (PostgreSQL) or lower-case
//!   hyphenated text (SQLite); timestamps are kept in UTC to the microsecond (`TIMESTAMPTZ`,
//!   or fixed-width text in SQLite that also sorts chronologically); birth dates as `DATE`
//!   (PostgreSQL) or `YYYY-MM-DD` text (SQLite, checked by a `GLOB`). Finer precision is
//!   truncated on write. A stored value that does not parse back into its core type is reported
//!   as [`StoreError::Corrupt`], never silently replaced. Terminal names and certificate
//!   fingerprints (32 upper-case hex pairs joined by `:`) are checked by the schema on write
//!   and again on read, and so are emergency grants (reason, note, expiry, whole review),
//!   sealed accounts and activations (generation, names, reason, times, confirmer) and
//!   categories and role grants (names, labels, actions, roles).
//! - **No secrets in errors.** Connection errors show the database URL only redacted.

mod error;
mod log;
mod postgres;
mod rows;
mod sql;
mod sqlite;
mod unit;
mod vendor;

pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use mamori_core::VendorDisclosureId;
use mamori_core::assessment::{Assessment, Evidence, ItemAssessment};
use mamori_core::audit::{AuditQuery, LogEntry, LogHead};
use mamori_core::authz::{Action, Category, CategoryDef};
use mamori_core::config::{Backend, DatabaseUrl};
use mamori_core::emergency::{EmergencyGrantRecord, EmergencyReview};
use mamori_core::factor::{ReenrollPass, TotpRecord, WebauthnCredential, WebauthnPurpose};
use mamori_core::lockout::Throttle;
use mamori_core::master::{MasterCode, MasterEntry, MasterKind};
use mamori_core::patient::{Patient, PatientNumber};
use mamori_core::record::{Content, Device, Record, RecordVersion, VersionState};
use mamori_core::sealed::{SealedAccount, SealedActivation};
use mamori_core::session::SessionRecord;
use mamori_core::terminal::{Terminal, TerminalName};
use mamori_core::vendor::{VendorAnswer, VendorDisclosure, VendorRisk};
use mamori_core::{
    AssessmentId, DeviceId, EmergencyGrantId, Institution, InstitutionId, LoginId, NewUser, PatientId, RecordId, Role,
    User, UserId, UserStatus,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::{Date, OffsetDateTime};

/// The persistence interface the rest of mamori uses, as `Arc<dyn Store>`.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Checks that the database answers (`SELECT 1`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Starts a transaction for an action and its audit events (see [`StoreTx`]). On SQLite it
    /// waits (up to the busy timeout) while another unit or write holds the write lock.
    ///
    /// # Errors
    /// When no connection can be had or the transaction cannot start.
    async fn begin(&self) -> Result<Box<dyn StoreTx + '_>, StoreError>;

    /// Closes the connection pool, waiting for connections in use to be returned. Later calls
    /// fail with [`StoreError::Unavailable`].
    async fn close(&self);

    /// The highest applied schema migration.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Whether the deployment has been bootstrapped (any institution exists).
    async fn is_initialized(&self) -> Result<bool, StoreError>;

    /// Creates the first institution and its administrator, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::AlreadyInitialized`] when any institution exists (nothing is changed);
    /// any other error leaves nothing behind either.
    async fn bootstrap(
        &self,
        institution: &Institution,
        admin: &NewUser,
        admin_totp: &TotpRecord,
    ) -> Result<(), StoreError>;

    /// Adds an institution.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when its ID is taken.
    async fn create_institution(&self, institution: &Institution) -> Result<(), StoreError>;

    /// The institution with this ID.
    async fn institution(&self, id: InstitutionId) -> Result<Option<Institution>, StoreError>;

    /// Every institution, oldest first (then by ID).
    async fn institutions(&self) -> Result<Vec<Institution>, StoreError>;

    /// Adds an active user and its roles to `institution`, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the institution does not exist; [`StoreError::Conflict`]
    /// when the login ID is used by any user of any institution (whatever its status), when
    /// the user ID is taken, or when `roles` names a role twice.
    async fn create_user(&self, institution: InstitutionId, user: &NewUser) -> Result<User, StoreError>;

    /// The user with this ID in this institution.
    async fn user(&self, institution: InstitutionId, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with this login ID in this institution.
    async fn user_by_login_id(
        &self,
        institution: InstitutionId,
        login_id: &LoginId,
    ) -> Result<Option<User>, StoreError>;

    /// Every user of this institution, by login ID.
    async fn users(&self, institution: InstitutionId) -> Result<Vec<User>, StoreError>;

    /// Deployment-wide: the user with this login ID, in whatever institution (login IDs are
    /// unique across the deployment).
    async fn find_login(&self, login_id: &LoginId) -> Result<Option<User>, StoreError>;

    /// Replaces the password hash and the change-required flag.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the institution has no such user.
    async fn set_password(
        &self,
        institution: InstitutionId,
        user: UserId,
        password_hash: &str,
        change_required: bool,
    ) -> Result<(), StoreError>;

    /// Changes an account's status.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"retired account"`) when the account is retired, whatever the
    /// new status (retired is final; nothing changes); [`StoreError::NotFound`] when the
    /// institution has no such user.
    async fn set_user_status(
        &self,
        institution: InstitutionId,
        user: UserId,
        status: UserStatus,
    ) -> Result<(), StoreError>;

    /// Replaces the user's roles with `roles`, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the institution has no such user; [`StoreError::Conflict`]
    /// (`"role"`) when `roles` names a role twice. Either way the old roles are kept.
    async fn set_user_roles(&self, institution: InstitutionId, user: UserId, roles: &[Role]) -> Result<(), StoreError>;

    /// The user-ID ledger (ID台帳): every user of the institution, whatever its status, by login
    /// ID, each with the time of its last successful login (`None` if it never logged in).
    async fn user_ledger(&self, institution: InstitutionId) -> Result<Vec<(User, Option<OffsetDateTime>)>, StoreError>;

    /// Records a successful login at `at`: returns the previous successful login (`None` for
    /// the first) and the failures counted since it, and sets the last login to `at` and the
    /// count to zero, atomically (no failure counted concurrently is lost or reported twice).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the institution has no such user.
    async fn record_login_success(
        &self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<(Option<OffsetDateTime>, u32), StoreError>;

    /// Adds one to the user's failures since the last successful login (saturating).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the institution has no such user.
    async fn record_login_failure(&self, institution: InstitutionId, user: UserId) -> Result<(), StoreError>;

    /// Deployment-wide: the throttle state of a login ID as typed, whether or not a user has it.
    async fn throttle(&self, login_id: &str) -> Result<Option<Throttle>, StoreError>;

    /// Deployment-wide: inserts or replaces the throttle state of `throttle.login_id`.
    async fn put_throttle(&self, throttle: &Throttle) -> Result<(), StoreError>;

    /// Deployment-wide: forgets the throttle state of a login ID (no error if there is none).
    async fn clear_throttle(&self, login_id: &str) -> Result<(), StoreError>;

    /// The user's TOTP enrollment.
    async fn totp(&self, institution: InstitutionId, user: UserId) -> Result<Option<TotpRecord>, StoreError>;

    /// Inserts or replaces the user's TOTP enrollment.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the institution has no such user.
    async fn put_totp(&self, institution: InstitutionId, user: UserId, record: &TotpRecord) -> Result<(), StoreError>;

    /// Marks the user's TOTP enrollment confirmed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the user (in this institution) has no enrollment.
    async fn confirm_totp(&self, institution: InstitutionId, user: UserId) -> Result<(), StoreError>;

    /// Records that the code of time step `step` was used: `true` iff an enrollment exists and
    /// no code of this or a later step was used before. One conditional `UPDATE`, so of
    /// concurrent calls with the same step exactly one gets `true`: each code is accepted once.
    async fn use_totp_step(&self, institution: InstitutionId, user: UserId, step: i64) -> Result<bool, StoreError>;

    /// Replaces all of the user's recovery codes (used or not) with these SHA-256 hashes, in
    /// one transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the institution has no such user; [`StoreError::Conflict`]
    /// when `hashes` repeats a hash. Either way the old codes are kept.
    async fn replace_recovery_codes(
        &self,
        institution: InstitutionId,
        user: UserId,
        hashes: &[[u8; 32]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Marks one unused recovery code used at `at`: `true` iff it existed and was unused. One
    /// conditional `UPDATE`, so a code is accepted once even under concurrent requests.
    async fn use_recovery_code(
        &self,
        institution: InstitutionId,
        user: UserId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// How many of the user's recovery codes are unused.
    async fn unused_recovery_codes(&self, institution: InstitutionId, user: UserId) -> Result<u32, StoreError>;

    /// Removes the user's TOTP enrollment, all its recovery codes (used or not) and all its
    /// WebAuthn credentials (a lost device may be a security key), in one transaction; returns
    /// whether a TOTP enrollment existed. `false`, not an error, for a user the institution does
    /// not have.
    async fn delete_second_factors(&self, institution: InstitutionId, user: UserId) -> Result<bool, StoreError>;

    /// Stores a re-enrollment pass (`pass.used_at` as given, normally `None`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"user"`) when `pass.institution` has no user `pass.user` or no
    /// user `pass.issued_by`; [`StoreError::Conflict`] (`"re-enrollment pass"`) when the hash is
    /// taken. A reason that is not 1 to 500 characters is refused by the database.
    async fn create_reenroll_pass(&self, pass: &ReenrollPass) -> Result<(), StoreError>;

    /// Uses a re-enrollment pass at `at`: `true` iff a pass with this hash exists for this
    /// institution and user, is unused, and `at` is before its `expires_at`; it is then marked
    /// used at `at`. One conditional `UPDATE`, so of concurrent uses exactly one gets `true`.
    async fn use_reenroll_pass(
        &self,
        institution: InstitutionId,
        user: UserId,
        pass_hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Every re-enrollment pass of the institution (for review), newest first (by `issued_at`).
    async fn reenroll_passes(&self, institution: InstitutionId) -> Result<Vec<ReenrollPass>, StoreError>;

    /// Stores a new session.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the session's institution has no such user;
    /// [`StoreError::Conflict`] when the token hash is taken.
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// Deployment-wide: the session with this token hash (the record names its institution).
    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;

    /// Updates the stage, `last_seen_at`, `expires_at`, `locked`, `previous_login_at`,
    /// `failures_since_previous` and `csrf_token` of the session with this token hash in this
    /// institution (`session.institution`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when that institution has no such session.
    async fn update_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// Sets the session's `last_seen_at` (activity). No error if the session is gone.
    async fn touch_session(
        &self,
        institution: InstitutionId,
        token_hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Deletes the session (no error if it is gone).
    async fn delete_session(&self, institution: InstitutionId, token_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// Deletes every session of the user; returns how many there were.
    async fn delete_user_sessions(&self, institution: InstitutionId, user: UserId) -> Result<u64, StoreError>;

    /// Registers a WebAuthn credential of the user (`credential.last_used_at` as given,
    /// normally `None`).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"security key"`) when the credential ID is registered anywhere
    /// in the deployment, to any user of any institution; [`StoreError::NotFound`] (`"user"`)
    /// when the institution has no such user. A credential ID that is not 1 to 1023 bytes or a
    /// name that is not 1 to 100 characters is refused by the database.
    async fn add_webauthn_credential(
        &self,
        institution: InstitutionId,
        user: UserId,
        credential: &WebauthnCredential,
    ) -> Result<(), StoreError>;

    /// The user's WebAuthn credentials, oldest first (then by credential ID).
    async fn webauthn_credentials(
        &self,
        institution: InstitutionId,
        user: UserId,
    ) -> Result<Vec<WebauthnCredential>, StoreError>;

    /// After a login with a credential: stores its updated JSON (the signature counter) and
    /// sets its `last_used_at` to `used_at`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"security key"`) when the user (in this institution) has no
    /// credential with this ID.
    async fn update_webauthn_credential(
        &self,
        institution: InstitutionId,
        user: UserId,
        credential_id: &[u8],
        credential_json: &str,
        used_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Removes one of the user's credentials: `true` iff it existed.
    async fn delete_webauthn_credential(
        &self,
        institution: InstitutionId,
        user: UserId,
        credential_id: &[u8],
    ) -> Result<bool, StoreError>;

    /// Stores the state of a pending WebAuthn ceremony of the session with this token hash,
    /// replacing any earlier one (one pending ceremony per session). The ceremony goes with the
    /// session when the session is deleted.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"session"`) when the institution has no such session.
    async fn put_webauthn_challenge(
        &self,
        institution: InstitutionId,
        token_hash: &[u8; 32],
        purpose: WebauthnPurpose,
        state: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Removes the session's pending ceremony and returns its state if it is for `purpose` and
    /// `at` is before its `expires_at` (at that instant it has expired). One
    /// `DELETE ... RETURNING`: a ceremony of the other purpose or an expired one is removed
    /// too (and `None` returned), so a challenge is used at most once, and of concurrent takes
    /// at most one gets the state. `None` when this institution has no such session or it has
    /// no pending ceremony.
    async fn take_webauthn_challenge(
        &self,
        institution: InstitutionId,
        token_hash: &[u8; 32],
        purpose: WebauthnPurpose,
        at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError>;

    /// Registers a terminal of `terminal.institution` (`terminal.revoked_at` as given, normally
    /// `None`).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"terminal name"`) when the name was ever used in that
    /// institution, revoked or not (names are never reused); [`StoreError::Conflict`]
    /// (`"terminal certificate"`) when the fingerprint is registered anywhere in the deployment;
    /// [`StoreError::Conflict`] (`"terminal ID"`) when the ID is taken in that institution;
    /// [`StoreError::NotFound`] (`"institution"`) for an unknown institution. A fingerprint that
    /// is not 32 upper-case hex pairs joined by `:` is refused by the database.
    async fn add_terminal(&self, terminal: &Terminal) -> Result<(), StoreError>;

    /// Every terminal of the institution, revoked ones included, ordered by name (bytewise).
    async fn terminals(&self, institution: InstitutionId) -> Result<Vec<Terminal>, StoreError>;

    /// Revokes the institution's terminal with this name: `true` iff it existed and was not yet
    /// revoked (its `revoked_at` is then `at`). One conditional `UPDATE`, so of concurrent
    /// revocations exactly one gets `true`.
    async fn revoke_terminal(
        &self,
        institution: InstitutionId,
        name: &TerminalName,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// The institution's terminal (revoked or not) with this certificate fingerprint. Never a
    /// terminal of another institution.
    async fn terminal_by_fingerprint(
        &self,
        institution: InstitutionId,
        cert_sha256: &str,
    ) -> Result<Option<Terminal>, StoreError>;

    /// Turns the institution's "logins only from registered terminals" rule on or off.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"institution"`) for an unknown institution.
    async fn set_require_registered_terminal(
        &self,
        institution: InstitutionId,
        required: bool,
    ) -> Result<(), StoreError>;

    /// Whether the institution's "logins only from registered terminals" rule is on (it is off
    /// until turned on).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"institution"`) for an unknown institution.
    async fn require_registered_terminal(&self, institution: InstitutionId) -> Result<bool, StoreError>;

    /// Deletes every session of the institution opened over a connection that presented the
    /// client certificate with this fingerprint (when its terminal is revoked); returns how
    /// many there were.
    async fn delete_sessions_of_certificate(
        &self,
        institution: InstitutionId,
        cert_sha256: &str,
    ) -> Result<u64, StoreError>;

    /// Records an emergency (break-glass) grant of `grant.institution` (`grant.review` as
    /// given, normally `None`). There is no delete path: a grant is kept, reviewed or not.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"user"`) when that institution has no such user (nor such a
    /// reviewer); [`StoreError::Conflict`] (`"emergency grant"`) when the ID is taken in that
    /// institution. A reason that is not 1 to 500 characters, an `expires_at` not after
    /// `granted_at`, a note longer than 1000 characters or a review by the grant's own user is
    /// refused by the database.
    async fn create_emergency_grant(&self, grant: &EmergencyGrantRecord) -> Result<(), StoreError>;

    /// The user's grants still active at `at` (`expires_at` after `at`; at `expires_at` itself
    /// a grant has expired), soonest expiry first (then by ID).
    async fn active_emergency_grants(
        &self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Vec<EmergencyGrantRecord>, StoreError>;

    /// Every grant of the institution, reviewed or not, newest first (by `granted_at`, then by
    /// ID): the review queue and its history.
    async fn emergency_grants(&self, institution: InstitutionId) -> Result<Vec<EmergencyGrantRecord>, StoreError>;

    /// The institution's grant with this ID.
    async fn emergency_grant(
        &self,
        institution: InstitutionId,
        id: EmergencyGrantId,
    ) -> Result<Option<EmergencyGrantRecord>, StoreError>;

    /// Records the review of the institution's grant with this ID: `true` iff it existed, was
    /// not yet reviewed and `review.reviewed_by` is not its user. One conditional `UPDATE`, so
    /// a grant is reviewed once (the first review stays) and of concurrent reviews exactly one
    /// gets `true`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"user"`) when the grant could be reviewed but the institution
    /// has no such reviewer. A note longer than 1000 characters is refused by the database.
    async fn review_emergency_grant(
        &self,
        institution: InstitutionId,
        id: EmergencyGrantId,
        review: &EmergencyReview,
    ) -> Result<bool, StoreError>;

    // --- Sealed emergency accounts (MDS 11, SDS 57.x) ---

    /// Marks an existing user of the institution as a sealed emergency account.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"user"`) when the institution has no such user;
    /// [`StoreError::Conflict`] (`"sealed account"`) when it is sealed already. A generation
    /// below 1 is refused by the database.
    async fn seal_account(&self, account: &SealedAccount) -> Result<(), StoreError>;

    /// The institution's sealed account for this user, if the user is one.
    async fn sealed_account(
        &self,
        institution: InstitutionId,
        user: UserId,
    ) -> Result<Option<SealedAccount>, StoreError>;

    /// Every sealed account of the institution, oldest first (by `sealed_at`, then user ID).
    async fn sealed_accounts(&self, institution: InstitutionId) -> Result<Vec<SealedAccount>, StoreError>;

    /// Records an activation (confirmed by a second person).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"sealed account"`) when the user is not a sealed account of
    /// the institution, or (`"user"`) when the confirmer is not a user of it;
    /// [`StoreError::Conflict`] (`"sealed activation"`) when the ID is taken. The database
    /// refuses a confirmation by the account itself, an `expires_at` not after
    /// `activated_at`, a `used_by` not 1–100 or a reason not 1–500 characters.
    async fn create_sealed_activation(&self, activation: &SealedActivation) -> Result<(), StoreError>;

    /// The account's activation allowing use at `at`: not closed and `expires_at` after `at`
    /// (the latest if several).
    async fn active_sealed_activation(
        &self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Option<SealedActivation>, StoreError>;

    /// Every activation of the institution's sealed accounts, newest first (by
    /// `activated_at`, then ID): the record for review.
    async fn sealed_activations(&self, institution: InstitutionId) -> Result<Vec<SealedActivation>, StoreError>;

    /// Ends the account's use after an outage, in one transaction: every activation of it
    /// not yet closed gets `closed_at = at`, and the account's generation goes up by one with
    /// `sealed_at = at`. Returns the new generation. (The caller replaces the password and
    /// second factors and deletes the sessions; see `mamori emergency close`.)
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"sealed account"`) when the user is not a sealed account of
    /// the institution; nothing changes then.
    async fn close_sealed_account(
        &self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<u32, StoreError>;

    // --- Institution categories and role grants (authz editor) ---

    /// Adds a category to the institution.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"category"`) when the institution has one of that name;
    /// [`StoreError::NotFound`] (`"institution"`) when there is no such institution. Names
    /// that break [`mamori_core::authz::Category::parse`] and labels not 1–50 characters are
    /// refused by the database.
    async fn add_category(&self, category: &CategoryDef) -> Result<(), StoreError>;

    /// The institution's own categories, by name.
    async fn categories(&self, institution: InstitutionId) -> Result<Vec<CategoryDef>, StoreError>;

    /// Replaces one role's clinical grants in the institution (the role then no longer follows
    /// its default policy), in one transaction, recording who changed it and when. An empty
    /// `grants` is stored as "no clinical right", not as "back to the defaults".
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"user"`) when `changed_by` is not a user of the institution;
    /// [`StoreError::Conflict`] (`"role grant"`) when `grants` names a pair twice. The old
    /// grants are kept on any error.
    async fn set_role_grants(
        &self,
        institution: InstitutionId,
        role: Role,
        grants: &[(Action, Category)],
        changed_by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The institution's replaced role grants: only the roles it changed, by role, each with
    /// its grants sorted by (action, category).
    async fn role_grants(&self, institution: InstitutionId)
    -> Result<Vec<(Role, Vec<(Action, Category)>)>, StoreError>;

    // --- The institution's tamper-evident log (RFC 9162 Merkle tree; audit trail) ---

    /// Appends `entries` to the institution's log, in order, in one transaction serialized
    /// per institution: each leaf's bytes and hash (`mamori_ledger::merkle::leaf_hash`) and its
    /// searchable columns at the next index, every perfect-subtree node the appends complete
    /// (`mamori_ledger::Frontier::append`), and the new head (size, root, frontier). Returns the
    /// new head; the first entry's index is the old size. Appending nothing returns the head
    /// unchanged.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"institution"`) when there is no such institution (even for
    /// an empty `entries`); [`StoreError::Corrupt`] when the stored frontier does not parse or
    /// does not match the head's size and root. Columns the schema refuses (an action that is
    /// not stable text, a malformed category) fail the whole append. Nothing is appended on
    /// any error.
    async fn append_log(&self, institution: InstitutionId, entries: &[LogEntry]) -> Result<LogHead, StoreError>;

    /// The institution's current head: size 0 and the empty tree's root (SHA-256 of "") before
    /// the first append (and for an institution that does not exist: this is a read, never
    /// [`StoreError::NotFound`]).
    async fn log_head(&self, institution: InstitutionId) -> Result<LogHead, StoreError>;

    /// The leaves with indexes in `start..end` (clamped to the log's size), in order, each
    /// with its stored leaf hash. At most 10 000 at a time: `end` is cut to `start + 10 000`
    /// (ask again from the last index plus one). The hash is returned as stored, not recomputed,
    /// so a reader can check it against the bytes.
    async fn log_leaves(
        &self,
        institution: InstitutionId,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, Vec<u8>, [u8; 32])>, StoreError>;

    /// The stored perfect-subtree nodes at these `(level, index)` addresses, in the order
    /// asked (`None` for a node not stored, including addresses no node can have: a level
    /// above 63 or an index beyond `i64::MAX`). At most 1000 at a time.
    ///
    /// # Errors
    /// [`StoreError::TooMany`] (`"log nodes"`) for more than 1000 addresses; nothing is read
    /// (the answer is never silently shorter than the question).
    async fn log_nodes(
        &self,
        institution: InstitutionId,
        addresses: &[(u8, u64)],
    ) -> Result<Vec<Option<[u8; 32]>>, StoreError>;

    /// The audit leaves matching `query` (every given field narrows), newest first (by index),
    /// at most `query.limit` (clamped to 1–1000): each with its index and bytes. `from` is
    /// inclusive and `until` exclusive, both compared as stored (UTC, truncated to the
    /// microsecond); `before_index` pages backwards (pass the last index of the previous page).
    async fn audit_search(
        &self,
        institution: InstitutionId,
        query: &AuditQuery,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    // --- Patients (records issue) ---

    /// The institution's patient with this ID (its current version).
    async fn patient(&self, institution: InstitutionId, id: PatientId) -> Result<Option<Patient>, StoreError>;

    /// The institution's patient with this number (its current version).
    async fn patient_by_number(
        &self,
        institution: InstitutionId,
        number: &PatientNumber,
    ) -> Result<Option<Patient>, StoreError>;

    /// Every version of the patient's identity, oldest first, each with the reason given for
    /// the change (`None` for the registration).
    async fn patient_versions(
        &self,
        institution: InstitutionId,
        id: PatientId,
    ) -> Result<Vec<(Patient, Option<String>)>, StoreError>;

    /// The institution's patients whose number starts with `key` or whose
    /// [`mamori_core::patient::PatientName::search_text`] contains `key` (already normalized
    /// with [`mamori_core::patient::search_key`]; one character is enough), by number, at most
    /// `limit` (clamped to 1–200). An empty key matches nothing.
    async fn search_patients(
        &self,
        institution: InstitutionId,
        key: &str,
        limit: u32,
    ) -> Result<Vec<Patient>, StoreError>;

    // --- Clinical records (the records issue): records, versions, masters, devices ---

    /// The institution's record with this ID (what never changes: patient, kind, category,
    /// creator).
    async fn record(&self, institution: InstitutionId, id: RecordId) -> Result<Option<Record>, StoreError>;

    /// One version of the institution's record.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the stored row does not read back (its content is not the
    /// canonical form of valid content, a state or time does not parse).
    async fn record_version(
        &self,
        institution: InstitutionId,
        record: RecordId,
        version: u32,
    ) -> Result<Option<RecordVersion>, StoreError>;

    /// Every version of the institution's record, oldest first, in every state.
    async fn record_versions(
        &self,
        institution: InstitutionId,
        record: RecordId,
    ) -> Result<Vec<RecordVersion>, StoreError>;

    /// Every version of every record of the institution's patient, in every state: by the
    /// record's `created_at` (then its ID), then by version. At most 5000.
    ///
    /// # Errors
    /// [`StoreError::TooMany`] when there are more.
    async fn patient_record_versions(
        &self,
        institution: InstitutionId,
        patient: PatientId,
    ) -> Result<Vec<RecordVersion>, StoreError>;

    /// The doctor's approval queue: versions in [`VersionState::PendingApproval`] whose
    /// `proxy_for` is `doctor`, oldest `entered_at` first, at most 500.
    async fn approval_queue(
        &self,
        institution: InstitutionId,
        doctor: UserId,
    ) -> Result<Vec<RecordVersion>, StoreError>;

    /// How many versions of the institution are [`VersionState::Final`] (each is a leaf of its
    /// log; `mamori verify` compares the two counts).
    async fn final_version_count(&self, institution: InstitutionId) -> Result<u64, StoreError>;

    /// The entry of the institution's master with this code valid on `day`
    /// ([`MasterEntry::valid_on`]); of several, the highest version.
    async fn master_entry(
        &self,
        institution: InstitutionId,
        master: MasterKind,
        code: &MasterCode,
        day: Date,
    ) -> Result<Option<MasterEntry>, StoreError>;

    /// Every version of one code, oldest first.
    async fn master_versions(
        &self,
        institution: InstitutionId,
        master: MasterKind,
        code: &MasterCode,
    ) -> Result<Vec<MasterEntry>, StoreError>;

    /// Entries of the institution's master valid on `day` whose code starts with `key` (ASCII
    /// case ignored, no wildcards) or whose name contains it; one per code (its highest valid
    /// version), by code, at most `limit` (capped at 200). An empty key lists the first
    /// `limit` codes.
    async fn search_master(
        &self,
        institution: InstitutionId,
        master: MasterKind,
        key: &str,
        day: Date,
        limit: u32,
    ) -> Result<Vec<MasterEntry>, StoreError>;

    /// The highest version of each code of every master of the institution (valid or not), by
    /// master then code: what an import compares against.
    async fn master_latest(&self, institution: InstitutionId) -> Result<Vec<MasterEntry>, StoreError>;

    /// The device whose bearer token has this SHA-256, in any institution (deployment-level,
    /// like a session's token: the device then names its institution), revoked or not.
    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Device>, StoreError>;

    /// The institution's devices, by name.
    async fn devices(&self, institution: InstitutionId) -> Result<Vec<Device>, StoreError>;

    // --- Assessments (the compliance workbench): 自己点検 of a catalog, item by item ---

    /// The institution's assessments, newest first (by `created_at`, then ID).
    async fn assessments(&self, institution: InstitutionId) -> Result<Vec<Assessment>, StoreError>;

    /// One assessment of the institution.
    async fn assessment(&self, institution: InstitutionId, id: AssessmentId) -> Result<Option<Assessment>, StoreError>;

    /// The current version of every item of an assessment, by item ID.
    async fn assessment_items(
        &self,
        institution: InstitutionId,
        assessment: AssessmentId,
    ) -> Result<Vec<ItemAssessment>, StoreError>;

    /// Every version of one item of an assessment, oldest first.
    async fn item_history(
        &self,
        institution: InstitutionId,
        assessment: AssessmentId,
        item: &str,
    ) -> Result<Vec<ItemAssessment>, StoreError>;

    /// Every revision of every piece of evidence of an assessment, by item, evidence ID, then
    /// revision.
    async fn evidence(&self, institution: InstitutionId, assessment: AssessmentId)
    -> Result<Vec<Evidence>, StoreError>;

    /// Every version of the institution's applicability decision (図1), oldest first.
    async fn applicability(
        &self,
        institution: InstitutionId,
    ) -> Result<Vec<mamori_core::applicability::Decision>, StoreError>;

    // --- Registers (the compliance workbench): 台帳・一覧, versioned entries ---

    /// The current version of every entry of one register, live and retired, oldest entry first.
    async fn register_entries(
        &self,
        institution: InstitutionId,
        kind: mamori_core::register::RegisterKind,
    ) -> Result<Vec<mamori_core::register::RegisterEntry>, StoreError>;

    /// The current version of one entry of the institution.
    async fn register_entry(
        &self,
        institution: InstitutionId,
        id: mamori_core::RegisterEntryId,
    ) -> Result<Option<mamori_core::register::RegisterEntry>, StoreError>;

    /// Every version of one entry, oldest first (empty for an unknown entry).
    async fn register_history(
        &self,
        institution: InstitutionId,
        id: mamori_core::RegisterEntryId,
    ) -> Result<Vec<mamori_core::register::RegisterEntry>, StoreError>;

    // --- Vendors' disclosures (MDS/SDS) and the risk records of their いいえ (migration 0013) ---

    /// The institution's vendor disclosures, newest first (by `entered_at`, then ID).
    async fn vendor_disclosures(&self, institution: InstitutionId) -> Result<Vec<VendorDisclosure>, StoreError>;

    /// One vendor disclosure of the institution.
    async fn vendor_disclosure(
        &self,
        institution: InstitutionId,
        id: VendorDisclosureId,
    ) -> Result<Option<VendorDisclosure>, StoreError>;

    /// A disclosure's answers, by item ID.
    async fn vendor_answers(
        &self,
        institution: InstitutionId,
        id: VendorDisclosureId,
    ) -> Result<Vec<VendorAnswer>, StoreError>;

    /// The current version of every risk record of the institution, by disclosure and item.
    async fn vendor_risks(&self, institution: InstitutionId) -> Result<Vec<VendorRisk>, StoreError>;

    /// Every version of one risk record, oldest first.
    async fn vendor_risk_history(
        &self,
        institution: InstitutionId,
        id: VendorDisclosureId,
        item: &str,
    ) -> Result<Vec<VendorRisk>, StoreError>;
}

/// One database transaction (a unit of work): an action and the audit events that record it
/// are written together or not at all. Made by [`Store::begin`]; nothing is visible to others
/// until [`StoreTx::commit`]; dropping it without committing rolls everything back. On SQLite
/// it is `BEGIN IMMEDIATE` (the write lock is taken at once, so two transactions never
/// deadlock); on PostgreSQL a `READ COMMITTED` transaction in which [`StoreTx::append_log`]
/// locks the institution's log head. After any error the transaction must be dropped: every
/// later step and [`StoreTx::commit`] answer [`StoreError::Database`], and nothing of it is
/// written.
///
/// It holds a pooled connection (and on SQLite the write lock) until it ends, so keep it short:
/// no slow work (password hashing, network calls) inside it, and no waiting on other [`Store`]
/// calls in the task that holds it (other writers wait for it, and with a one-connection pool
/// so does every read).
#[async_trait::async_trait]
pub trait StoreTx: Send {
    /// As [`Store::append_log`], inside this transaction.
    async fn append_log(&mut self, institution: InstitutionId, entries: &[LogEntry]) -> Result<LogHead, StoreError>;

    /// As [`Store::create_user`], inside this transaction.
    async fn create_user(&mut self, institution: InstitutionId, user: &NewUser) -> Result<User, StoreError>;

    /// As [`Store::set_password`], inside this transaction.
    async fn set_password(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        password_hash: &str,
        change_required: bool,
    ) -> Result<(), StoreError>;

    /// As [`Store::set_user_status`], inside this transaction.
    async fn set_user_status(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        status: UserStatus,
    ) -> Result<(), StoreError>;

    /// As [`Store::set_user_roles`], inside this transaction.
    async fn set_user_roles(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        roles: &[Role],
    ) -> Result<(), StoreError>;

    /// As [`Store::record_login_success`], inside this transaction.
    async fn record_login_success(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<(Option<OffsetDateTime>, u32), StoreError>;

    /// As [`Store::record_login_failure`], inside this transaction.
    async fn record_login_failure(&mut self, institution: InstitutionId, user: UserId) -> Result<(), StoreError>;

    /// As [`Store::put_throttle`], inside this transaction.
    async fn put_throttle(&mut self, throttle: &Throttle) -> Result<(), StoreError>;

    /// As [`Store::clear_throttle`], inside this transaction.
    async fn clear_throttle(&mut self, login_id: &str) -> Result<(), StoreError>;

    /// As [`Store::put_totp`], inside this transaction.
    async fn put_totp(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        record: &TotpRecord,
    ) -> Result<(), StoreError>;

    /// As [`Store::confirm_totp`], inside this transaction.
    async fn confirm_totp(&mut self, institution: InstitutionId, user: UserId) -> Result<(), StoreError>;

    /// As [`Store::replace_recovery_codes`], inside this transaction.
    async fn replace_recovery_codes(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        hashes: &[[u8; 32]],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// As [`Store::delete_second_factors`], inside this transaction.
    async fn delete_second_factors(&mut self, institution: InstitutionId, user: UserId) -> Result<bool, StoreError>;

    /// As [`Store::create_reenroll_pass`], inside this transaction.
    async fn create_reenroll_pass(&mut self, pass: &ReenrollPass) -> Result<(), StoreError>;

    /// As [`Store::use_reenroll_pass`], inside this transaction.
    async fn use_reenroll_pass(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        pass_hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// As [`Store::create_session`], inside this transaction.
    async fn create_session(&mut self, session: &SessionRecord) -> Result<(), StoreError>;

    /// As [`Store::update_session`], inside this transaction.
    async fn update_session(&mut self, session: &SessionRecord) -> Result<(), StoreError>;

    /// As [`Store::delete_session`], inside this transaction.
    async fn delete_session(&mut self, institution: InstitutionId, token_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// As [`Store::delete_user_sessions`], inside this transaction.
    async fn delete_user_sessions(&mut self, institution: InstitutionId, user: UserId) -> Result<u64, StoreError>;

    /// As [`Store::add_webauthn_credential`], inside this transaction.
    async fn add_webauthn_credential(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        credential: &WebauthnCredential,
    ) -> Result<(), StoreError>;

    /// As [`Store::delete_webauthn_credential`], inside this transaction.
    async fn delete_webauthn_credential(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        credential_id: &[u8],
    ) -> Result<bool, StoreError>;

    /// As [`Store::add_terminal`], inside this transaction.
    async fn add_terminal(&mut self, terminal: &Terminal) -> Result<(), StoreError>;

    /// As [`Store::revoke_terminal`], inside this transaction.
    async fn revoke_terminal(
        &mut self,
        institution: InstitutionId,
        name: &TerminalName,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// As [`Store::set_require_registered_terminal`], inside this transaction.
    async fn set_require_registered_terminal(
        &mut self,
        institution: InstitutionId,
        required: bool,
    ) -> Result<(), StoreError>;

    /// As [`Store::delete_sessions_of_certificate`], inside this transaction.
    async fn delete_sessions_of_certificate(
        &mut self,
        institution: InstitutionId,
        cert_sha256: &str,
    ) -> Result<u64, StoreError>;

    /// As [`Store::create_emergency_grant`], inside this transaction.
    async fn create_emergency_grant(&mut self, grant: &EmergencyGrantRecord) -> Result<(), StoreError>;

    /// As [`Store::review_emergency_grant`], inside this transaction.
    async fn review_emergency_grant(
        &mut self,
        institution: InstitutionId,
        id: EmergencyGrantId,
        review: &EmergencyReview,
    ) -> Result<bool, StoreError>;

    /// As [`Store::seal_account`], inside this transaction.
    async fn seal_account(&mut self, account: &SealedAccount) -> Result<(), StoreError>;

    /// As [`Store::create_sealed_activation`], inside this transaction.
    async fn create_sealed_activation(&mut self, activation: &SealedActivation) -> Result<(), StoreError>;

    /// As [`Store::close_sealed_account`], inside this transaction.
    async fn close_sealed_account(
        &mut self,
        institution: InstitutionId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<u32, StoreError>;

    /// As [`Store::add_category`], inside this transaction.
    async fn add_category(&mut self, category: &CategoryDef) -> Result<(), StoreError>;

    /// As [`Store::set_role_grants`], inside this transaction.
    async fn set_role_grants(
        &mut self,
        institution: InstitutionId,
        role: Role,
        grants: &[(Action, Category)],
        changed_by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Registers a patient (`patient.version` must be 1): the current row and version 1 of its
    /// identity.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"patient number"`) when the institution has a patient with
    /// that number, (`"patient"`) when the ID is taken; [`StoreError::NotFound`] (`"user"`)
    /// when `changed_by` is not a user of the institution. A version other than 1 is refused
    /// by the database.
    async fn create_patient(&mut self, patient: &Patient) -> Result<(), StoreError>;

    /// Records a change of a patient's identity as a new version: `patient.version` must be the
    /// current version plus one (one conditional `UPDATE`, so of two concurrent changes from the
    /// same version exactly one wins), with the reason kept beside the version. Returns `false`
    /// when the patient does not exist or its version moved on (nothing changes then).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"patient number"`) when another patient of the institution
    /// has the new number; [`StoreError::NotFound`] (`"user"`) for an unknown `changed_by`. A
    /// reason that is not 1–500 characters is refused by the database.
    async fn update_patient(&mut self, patient: &Patient, reason: &str) -> Result<bool, StoreError>;

    /// Creates a record with its version 1 (`first.record` is the record; `first.version` must
    /// be 1 and `first.change` [`mamori_core::record::Change::Original`]). Version 1 is a draft, a proxy entry
    /// pending approval, or final (device data, finalized on arrival: its leaf is appended in
    /// the same unit first, and `leaf_index` names it).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"patient"`, `"user"`, `"device"`) when the institution has
    /// no such patient, author, proxy doctor or device; [`StoreError::Conflict`] (`"record"`)
    /// when the ID is taken. The database refuses a final version without its finalizer, time
    /// and leaf index, and a pending one without `proxy_for`.
    async fn create_record(&mut self, first: &RecordVersion) -> Result<(), StoreError>;

    /// Replaces the content of a draft: `true` iff the version exists, is a
    /// [`VersionState::Draft`] and its author is the user `author`; `updated_at` becomes `at`.
    /// One conditional `UPDATE`.
    async fn update_draft(
        &mut self,
        institution: InstitutionId,
        record: RecordId,
        version: u32,
        author: UserId,
        content: &Content,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Discards a draft: `true` iff it exists, is a draft and its author is `author`; the
    /// state becomes [`VersionState::Discarded`] and `updated_at` `at`. The row is kept.
    async fn discard_draft(
        &mut self,
        institution: InstitutionId,
        record: RecordId,
        version: u32,
        author: UserId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Finalizes a version: `final` is the version as it is once final (state
    /// [`VersionState::Final`], `finalized_by`, `finalized_at`, `leaf_index` set; its leaf
    /// appended in this unit first). `true` iff the stored version is still in state `from`
    /// ([`VersionState::Draft`] or [`VersionState::PendingApproval`]) with exactly
    /// `final.content` (byte for byte, so what was hashed into the leaf is what is stored), and,
    /// from a draft, its author is the finalizer, or, from pending, its `proxy_for` is. One
    /// conditional `UPDATE`: of concurrent finalizations exactly one wins.
    async fn finalize_version(&mut self, finalized: &RecordVersion, from: VersionState) -> Result<bool, StoreError>;

    /// Rejects a proxy entry: `true` iff it exists, is pending approval and `proxy_for` is
    /// `doctor`; the state becomes [`VersionState::Rejected`] with `doctor`, the reason and
    /// `updated_at` `at`.
    async fn reject_version(
        &mut self,
        institution: InstitutionId,
        record: RecordId,
        version: u32,
        doctor: UserId,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Adds a later version to an existing record: a correction or a cancellation, final at
    /// once (its leaf appended in this unit first), with its reason.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"record version"`) when that version number exists (someone
    /// corrected the record first); [`StoreError::NotFound`] (`"record"`) when the institution
    /// has no such record.
    async fn add_version(&mut self, version: &RecordVersion) -> Result<(), StoreError>;

    /// Adds master entry versions (all or none).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"master entry"`) when a (master, code, version) exists.
    async fn add_master_entries(&mut self, entries: &[MasterEntry]) -> Result<(), StoreError>;

    /// Registers a device.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"device"`) when the name is taken in the institution, or
    /// the token hash anywhere.
    async fn add_device(&mut self, device: &Device) -> Result<(), StoreError>;

    /// Revokes a device: `true` iff it existed and was not revoked. The row is kept.
    async fn revoke_device(
        &mut self,
        institution: InstitutionId,
        device: DeviceId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Starts an assessment with the first version (1) of each of its items (all or none).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"assessment"`) when the ID is taken, (`"assessment item"`)
    /// when `items` names an item twice; [`StoreError::NotFound`] (`"user"`) when a creator or
    /// owner is not a user of the institution, (`"assessment"`) when `carried_from` is not an
    /// assessment of it. An item that is not version 1 of this assessment is refused
    /// ([`StoreError::Database`]) before anything is written.
    async fn create_assessment(&mut self, assessment: &Assessment, items: &[ItemAssessment]) -> Result<(), StoreError>;

    /// Changes an item: `item.version` must be one more than the stored one (one conditional
    /// `UPDATE`; `false` when someone changed it first), and the version is kept in the item's
    /// history.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"user"`) when the owner or author is not a user of the
    /// institution.
    async fn update_item(&mut self, item: &ItemAssessment) -> Result<bool, StoreError>;

    /// Adds a revision of a piece of evidence (revision 1 of a new ID, or the next revision).
    /// Revisions are never changed or deleted.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"evidence"`) when that revision exists;
    /// [`StoreError::NotFound`] (`"assessment item"`, `"user"`) for an unknown item or user.
    async fn add_evidence(&mut self, evidence: &Evidence) -> Result<(), StoreError>;

    /// Adds a version of the institution's applicability decision.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"applicability decision"`) when that version exists;
    /// [`StoreError::NotFound`] (`"user"`) when the decider is not a user of the institution.
    async fn decide_applicability(&mut self, decision: &mamori_core::applicability::Decision)
    -> Result<(), StoreError>;

    /// Creates register entries, each at version 1 and not retired (one, or a whole import:
    /// all or none with the unit).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"register entry"`) when an ID is taken;
    /// [`StoreError::NotFound`] (`"user"`) when an author is not a user of the institution,
    /// (`"institution"`) for an unknown institution. An entry that is not version 1, or is
    /// retired, is refused ([`StoreError::Database`]) before anything is written.
    async fn create_register_entries(
        &mut self,
        entries: &[mamori_core::register::RegisterEntry],
    ) -> Result<(), StoreError>;

    /// Adds a version of an entry (a change, or its retirement): `entry.version` must be one
    /// more than the stored one and the entry not retired (one conditional `UPDATE`; `false`
    /// when it is not, and nothing is written). Versions are never changed or deleted.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"user"`) when the author is not a user of the institution.
    async fn add_register_version(&mut self, entry: &mamori_core::register::RegisterEntry) -> Result<bool, StoreError>;

    /// Records a vendor's disclosure with its answers and the risk records (version 1) its いいえ
    /// open, all or none. `disclosure.generation` must be one more than the highest of the same
    /// vendor, product and catalog.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"vendor disclosure"`) when the ID or the generation is taken,
    /// (`"vendor answer"`) when an item is answered twice; [`StoreError::NotFound`] (`"user"`)
    /// for an author that is not a user of the institution. No answers, or risks that are not
    /// exactly version 1 of one per いいえ, are refused ([`StoreError::Database`]) before
    /// anything is written.
    async fn record_vendor_disclosure(
        &mut self,
        disclosure: &VendorDisclosure,
        answers: &[VendorAnswer],
        risks: &[VendorRisk],
    ) -> Result<(), StoreError>;

    /// Changes a risk record: `risk.version` must be one more than the stored one (one
    /// conditional `UPDATE`; `false` when someone changed it first, or there is no such risk),
    /// and the version is kept in its history.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (`"user"`) when the owner or author is not a user of the
    /// institution.
    async fn update_vendor_risk(&mut self, risk: &VendorRisk) -> Result<bool, StoreError>;

    /// Makes everything done in the transaction durable and visible.
    ///
    /// # Errors
    /// When an earlier step failed, or the database refuses the commit (nothing is then
    /// written either way).
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Opens the store a database URL names.
///
/// SQLite URLs name a file: `sqlite://mamori.db` and `sqlite:mamori.db` are relative to
/// `data_dir`, `sqlite:///var/lib/mamori/mamori.db` is absolute. PostgreSQL URLs
/// (`postgres://…`, `postgresql://…`) are passed to [`PgStore::connect`].
///
/// # Errors
/// [`StoreError::InvalidUrl`] for an unknown scheme or an unusable SQLite URL, and the errors
/// of [`SqliteStore::open`] and [`PgStore::connect`].
pub async fn open(url: &DatabaseUrl, data_dir: &Path, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    match url.backend() {
        Some(Backend::Sqlite) => {
            let path = sqlite_path(url.expose(), data_dir)?;
            Ok(Arc::new(SqliteStore::open(&path, max_connections).await?))
        }
        Some(Backend::Postgres) => Ok(Arc::new(PgStore::connect(url, max_connections).await?)),
        None => {
            Err(StoreError::InvalidUrl { detail: format!("{}: expected sqlite:// or postgres://", url.redacted()) })
        }
    }
}

/// The file a `sqlite:` URL names, relative paths resolved against `data_dir`.
fn sqlite_path(url: &str, data_dir: &Path) -> Result<PathBuf, StoreError> {
    let invalid = |why: &str| StoreError::InvalidUrl { detail: format!("{url}: {why}") };
    let rest = url.strip_prefix("sqlite:").ok_or_else(|| invalid("expected sqlite:"))?;
    // `sqlite://REL` and `sqlite:///ABS` drop the `//`; `sqlite:REL` and `sqlite:/ABS` have none.
    let file = rest.strip_prefix("//").unwrap_or(rest);
    if file.contains('?') || file.contains('#') {
        return Err(invalid("query parameters are not supported; mamori sets the SQLite options itself"));
    }
    if file.is_empty() || file.ends_with('/') || file == ":memory:" {
        return Err(invalid("name a database file, e.g. sqlite://mamori.db"));
    }
    let path = Path::new(file);
    Ok(if path.is_absolute() { path.to_path_buf() } else { data_dir.join(path) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_resolve_against_the_data_directory() {
        let dir = Path::new("/srv/mamori");
        let path = |url: &str| sqlite_path(url, dir).ok();
        assert_eq!(path("sqlite://mamori.db"), Some(PathBuf::from("/srv/mamori/mamori.db")));
        assert_eq!(path("sqlite://db/mamori.db"), Some(PathBuf::from("/srv/mamori/db/mamori.db")));
        assert_eq!(path("sqlite:mamori.db"), Some(PathBuf::from("/srv/mamori/mamori.db")));
        assert_eq!(path("sqlite:///var/lib/mamori.db"), Some(PathBuf::from("/var/lib/mamori.db")));
        assert_eq!(path("sqlite:/var/lib/mamori.db"), Some(PathBuf::from("/var/lib/mamori.db")));
        for bad in ["sqlite://", "sqlite:", "sqlite::memory:", "sqlite://mamori.db?mode=ro", "sqlite://dir/"] {
            assert!(matches!(sqlite_path(bad, dir), Err(StoreError::InvalidUrl { .. })), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_sqlite_file_that_cannot_be_created_is_unavailable() {
        // A path below a regular file can never be created.
        let file = std::env::temp_dir().join(format!("mamori-store-not-a-dir-{}", std::process::id()));
        assert!(std::fs::write(&file, b"").is_ok());
        let err = SqliteStore::open(&file.join("mamori.db"), 1).await.err();
        let _ = std::fs::remove_file(&file);
        assert!(matches!(err, Some(StoreError::Unavailable { backend: Backend::Sqlite, .. })), "{err:?}");
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_without_showing_the_password() {
        let url = DatabaseUrl::new("mysql://root:s3cret-pw@localhost/mamori");
        let err = open(&url, Path::new("/nonexistent"), 1).await.err();
        assert!(matches!(&err, Some(StoreError::InvalidUrl { detail }) if !detail.contains("s3cret-pw")), "{err:?}");
    }
}
