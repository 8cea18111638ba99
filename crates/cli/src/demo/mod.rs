//! `mamori demo`: fills an institution with synthetic Japanese patients and records.

pub(crate) mod data;
