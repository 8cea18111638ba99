//! Units of work, shared by both backends: [`Unit`] is one open database transaction, the
//! [`crate::StoreTx`] a backend hands out from [`crate::Store::begin`] and also what each
//! pool-level mutation runs its one call in ([`in_transaction!`]).
//!
//! Each mutation is written once, as a function of the backend's `write` module that runs on
//! the transaction's connection; [`in_transaction!`] (pool level: begin, call, commit) and
//! [`step!`] (inside a caller's unit) are the only two ways it is called.

use crate::StoreError;
use crate::error::from_sqlx;
use mamori_core::config::Backend;

/// One open transaction. Dropping it without [`Unit::finish`] rolls it back (sqlx queues the
/// `ROLLBACK` on the connection, which runs before the connection is used again).
///
/// After a step fails, the unit refuses every later step and the commit: on PostgreSQL the
/// database has aborted the transaction anyway (its `COMMIT` would silently roll back), and on
/// SQLite the failed step may have left part of its rows behind (an append whose third leaf the
/// schema refuses has written the first two), which must never be committed.
pub(crate) struct Unit<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    backend: Backend,
    failed: bool,
}

impl<DB: sqlx::Database> Unit<DB> {
    pub(crate) fn new(tx: sqlx::Transaction<'static, DB>, backend: Backend) -> Self {
        Self { tx, backend, failed: false }
    }

    /// The transaction's connection, unless an earlier step failed.
    pub(crate) fn connection(&mut self) -> Result<&mut DB::Connection, StoreError> {
        if self.failed {
            return Err(failed_before());
        }
        Ok(&mut self.tx)
    }

    /// Passes a step's result on, remembering a failure.
    pub(crate) fn settle<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Commits, unless an earlier step failed (then it rolls back and says so).
    pub(crate) async fn finish(self) -> Result<(), StoreError> {
        if self.failed {
            return Err(failed_before());
        }
        let backend = self.backend;
        self.tx.commit().await.map_err(|e| from_sqlx(backend, e))
    }
}

fn failed_before() -> StoreError {
    StoreError::Database {
        detail: "an earlier step of this transaction failed, so it was rolled back; drop it and start again".to_owned(),
    }
}

/// A pool-level mutation: `$store.unit()` begins a transaction, the `write` function runs in
/// it, and it commits; on an error the transaction is dropped, which rolls it back.
macro_rules! in_transaction {
    ($store:expr, $write:ident :: $f:ident ( $($arg:expr),* $(,)? )) => {{
        let mut unit = $store.unit().await?;
        let out = $write::$f(unit.connection()?, $($arg),*).await?;
        unit.finish().await?;
        Ok(out)
    }};
}

/// One step of a caller's unit of work ([`crate::StoreTx`]): the `write` function runs in the
/// unit's transaction, and a failure is remembered ([`Unit::settle`]).
macro_rules! step {
    ($unit:expr, $write:ident :: $f:ident ( $($arg:expr),* $(,)? )) => {{
        let result = $write::$f($unit.connection()?, $($arg),*).await;
        $unit.settle(result)
    }};
}

pub(crate) use {in_transaction, step};
