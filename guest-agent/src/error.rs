//! `AgentError`, the one error type handlers return, and its single mapping to a gRPC status.

use std::fmt;
use std::io;

use crate::grpc::{Code, Status};

/// Errors with a known meaning for the host. Handlers never build a `Status` themselves.
#[derive(Debug)]
pub enum AgentError {
    NotFound(String),
    AlreadyExists(String),
    PermissionDenied(String),
    InvalidArgument(String),
    FailedPrecondition(String),
    ResourceExhausted(String),
    Aborted(String),
    Unavailable(String),
    /// A system call failed; the errno decides the status.
    Io { context: String, source: io::Error },
    /// A bug or an impossible state; the only path to INTERNAL.
    Internal(String),
}

pub type AgentResult<T> = Result<T, AgentError>;

impl AgentError {
    pub fn io(context: impl Into<String>, source: io::Error) -> AgentError {
        AgentError::Io { context: context.into(), source }
    }

    pub fn invalid(message: impl Into<String>) -> AgentError {
        AgentError::InvalidArgument(message.into())
    }

    /// errno of a failed system call, else 0.
    pub fn errno(&self) -> i32 {
        match self {
            AgentError::Io { source, .. } => source.raw_os_error().unwrap_or(0),
            _ => 0,
        }
    }

    pub fn code(&self) -> Code {
        match self {
            AgentError::NotFound(_) => Code::NotFound,
            AgentError::AlreadyExists(_) => Code::AlreadyExists,
            AgentError::PermissionDenied(_) => Code::PermissionDenied,
            AgentError::InvalidArgument(_) => Code::InvalidArgument,
            AgentError::FailedPrecondition(_) => Code::FailedPrecondition,
            AgentError::ResourceExhausted(_) => Code::ResourceExhausted,
            AgentError::Aborted(_) => Code::Aborted,
            AgentError::Unavailable(_) => Code::Unavailable,
            AgentError::Io { source, .. } => io_code(source),
            AgentError::Internal(_) => Code::Internal,
        }
    }
}

fn io_code(err: &io::Error) -> Code {
    match err.raw_os_error() {
        Some(libc::ENOENT) => Code::NotFound,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => Code::PermissionDenied,
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOMEM)
        | Some(libc::EFBIG) => Code::ResourceExhausted,
        Some(libc::EEXIST) => Code::AlreadyExists,
        Some(libc::EINVAL) | Some(libc::ENAMETOOLONG) | Some(libc::ELOOP) | Some(libc::EXDEV) => Code::InvalidArgument,
        Some(libc::ENOTDIR) | Some(libc::EISDIR) | Some(libc::ENOTEMPTY) | Some(libc::EBUSY) | Some(libc::ETXTBSY) => {
            Code::FailedPrecondition
        }
        Some(libc::ESRCH) => Code::NotFound,
        Some(libc::EAGAIN) | Some(libc::EINTR) => Code::Unavailable,
        _ => match err.kind() {
            io::ErrorKind::NotFound => Code::NotFound,
            io::ErrorKind::PermissionDenied => Code::PermissionDenied,
            io::ErrorKind::AlreadyExists => Code::AlreadyExists,
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => Code::InvalidArgument,
            io::ErrorKind::UnexpectedEof => Code::InvalidArgument,
            _ => Code::Internal,
        },
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::NotFound(m)
            | AgentError::AlreadyExists(m)
            | AgentError::PermissionDenied(m)
            | AgentError::InvalidArgument(m)
            | AgentError::FailedPrecondition(m)
            | AgentError::ResourceExhausted(m)
            | AgentError::Aborted(m)
            | AgentError::Unavailable(m)
            | AgentError::Internal(m) => f.write_str(m),
            AgentError::Io { context, source } => write!(f, "{}: {}", context, source),
        }
    }
}

impl std::error::Error for AgentError {}

impl From<AgentError> for Status {
    fn from(err: AgentError) -> Status {
        Status::new(err.code(), err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping() {
        let cases = [
            (libc::ENOENT, Code::NotFound),
            (libc::EACCES, Code::PermissionDenied),
            (libc::ENOSPC, Code::ResourceExhausted),
            (libc::EDQUOT, Code::ResourceExhausted),
            (libc::ENAMETOOLONG, Code::InvalidArgument),
            (libc::ENOTEMPTY, Code::FailedPrecondition),
        ];
        for (errno, code) in cases {
            let status: Status = AgentError::io("x", io::Error::from_raw_os_error(errno)).into();
            assert_eq!(status.code, code, "errno {}", errno);
        }
    }
}
