//! Store errors: one type, classified as transient (retry may succeed) or
//! permanent (retrying the same call cannot help).

use std::fmt;

/// What went wrong, coarsely; decides [`StoreError::is_transient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The file exists but is not a database at all.
    NotADatabase,
    /// A database that Loupe did not create (another application's SQLite file).
    Foreign,
    /// The database failed its integrity check.
    Corrupt,
    /// The database was written by a newer Loupe (schema version too high).
    NewerSchema,
    /// Another process holds the lock longer than the busy timeout.
    Busy,
    /// The backend could not be reached (network, refused connection).
    Unavailable,
    /// Reading or writing the file system failed.
    Io,
    /// The caller passed something the store cannot hold.
    InvalidInput,
    /// Any other backend failure.
    Backend,
}

/// An error from a [`crate::Store`]: its kind, what it was doing and why it failed.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    context: String,
    reason: String,
}

impl StoreError {
    /// Builds an error. `context` names the file or endpoint and the operation.
    pub fn new(
        kind: StoreErrorKind,
        context: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        StoreError {
            kind,
            context: context.into(),
            reason: reason.into(),
        }
    }

    /// Why it failed, without the context.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The coarse kind.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later (lock contention, network).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            StoreErrorKind::Busy | StoreErrorKind::Unavailable
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.reason)
    }
}

impl std::error::Error for StoreError {}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;
