//! Decisions of business logic that reach the caller as a gRPC status.

use std::fmt;

use tonic::{Code, Status};

/// A gRPC status code and message: what a handler's refusal becomes for
/// the client (evented passes it through unchanged).
///
/// Make one with [`reject`] (the state forbids the command:
/// `FAILED_PRECONDITION`), [`invalid`] (the command is wrong:
/// `INVALID_ARGUMENT`) or [`Error::new`] for another code.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
}

impl Error {
    /// An error with any code.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// A bug: `INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(Code::Internal, message)
    }

    /// The gRPC code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with its message prefixed (`prefix: message`).
    pub(crate) fn prefixed(self, prefix: &str) -> Self {
        Error::new(self.code, format!("{prefix}: {}", self.message))
    }
}

/// Refuses a command because of the aggregate's state: the client gets
/// `FAILED_PRECONDITION` with `message`, and nothing is stored.
///
/// ```
/// let err = evented::reject("customer does not exist");
/// assert_eq!(err.code(), tonic::Code::FailedPrecondition);
/// ```
pub fn reject(message: impl Into<String>) -> Error {
    Error::new(Code::FailedPrecondition, message)
}

/// Refuses a command that is wrong whatever the state (a missing field, a
/// negative amount): the client gets `INVALID_ARGUMENT` with `message`.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(Code::InvalidArgument, message)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {:?}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        Status::new(e.code, e.message)
    }
}

/// The status of a failed gRPC call a handler made passes through.
impl From<Status> for Error {
    fn from(s: Status) -> Error {
        Error::new(s.code(), s.message())
    }
}

/// Runs `f`, turning a panic into `INTERNAL` (prefixed with `place`): a bug in
/// a handler fails the call, not the service.
pub(crate) fn guard<T>(place: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            Err(Error::internal(format!("{place}: panicked: {what}")))
        }
    }
}
