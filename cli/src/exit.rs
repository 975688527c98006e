//! Exit statuses and the error that ends a command.
//!
//! 0: everything succeeded. 1: the API or the network failed, the service
//! answered a refund with a status other than `successful`/`succeeded`
//! (e.g. a 202 with `"status": "failed"`), or a batch row did not succeed.
//! 2: bad usage or invalid input; nothing was sent.

use std::fmt;

use refundkit::ErrorKind;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for succeeded.
    Success = 0,
    /// An API, network or verification failure, or a refund answered with
    /// a status that is not a success.
    Failure = 1,
    /// Bad arguments or invalid input; nothing was sent.
    Usage = 2,
}

impl Exit {
    /// The status for a refundkit error: input and configuration problems
    /// are usage errors, everything else is a failure.
    pub fn for_error(error: &refundkit::Error) -> Self {
        match error.kind() {
            ErrorKind::InvalidInput | ErrorKind::Configuration => Self::Usage,
            _ => Self::Failure,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}

/// A failure that ends a command, with the status to exit with.
#[derive(Debug)]
pub struct CliError {
    /// The exit status.
    pub exit: Exit,
    /// A short machine-readable category (`usage`, `io`, or an error kind).
    pub kind: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl CliError {
    /// Bad arguments or input: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            kind: "usage".to_owned(),
            message: message.into(),
        }
    }

    /// A failure while doing the work: exit 1.
    pub fn failure(kind: &str, message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Failure,
            kind: kind.to_owned(),
            message: message.into(),
        }
    }
}

impl From<refundkit::Error> for CliError {
    fn from(error: refundkit::Error) -> Self {
        Self {
            exit: Exit::for_error(&error),
            kind: error.kind().as_str().to_owned(),
            message: error.to_string(),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        Self::failure("error", format!("{error:#}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
