//! mamori's domain model: institutions, users, configuration and the checks on them.
//!
//! This crate does no I/O. Time arrives as a [`Clock`], randomness as a
//! [`rand_core::RngCore`], configuration as text and an environment map. Everything here can be
//! tested without a file system, a network or a database.

pub mod applicability;
pub mod assessment;
pub mod audit;
pub mod authz;
pub mod clock;
pub mod config;
pub mod emergency;
pub mod factor;
pub mod ids;
pub mod institution;
pub mod lockout;
pub mod logon_hours;
pub mod master;
pub mod message;
pub mod patient;
pub mod record;
pub mod register;
pub mod review;
pub mod sealed;
pub mod session;
pub mod table;
pub mod terminal;
pub mod timecheck;
pub mod user;
pub mod vendor;

pub use clock::{Clock, FixedClock};
pub use ids::{
    AssessmentId, DeviceId, EmergencyGrantId, EvidenceId, InstitutionId, PatientId, RecordId, RegisterEntryId,
    SealedActivationId, TerminalId, UserId, VendorDisclosureId,
};
pub use institution::{Institution, InstitutionName};
pub use message::Message;
pub use user::{DisplayName, JobType, LoginId, NewUser, Role, User, UserStatus};
