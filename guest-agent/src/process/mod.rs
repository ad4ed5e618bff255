//! Processes started by Exec: spawning, output buffering, supervision and the registry that lets
//! a host re-attach after losing its connection.

pub mod output;
pub mod reaper;
pub mod registry;
pub mod spawn;
mod supervise;
pub mod users;

pub use registry::{Next, Process, Registry, Release, Retention};

/// Largest output chunk sent to the host, in bytes.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;
/// Drain time after the main process exited while descendants hold the pipes, when the request
/// says 0.
pub const DEFAULT_WAIT_DELAY_MS: u64 = 1000;
/// Time between SIGTERM and SIGKILL on timeout, when the request says 0.
pub const DEFAULT_KILL_GRACE_MS: u64 = 2000;
/// How long a non-detached process whose host connection dropped waits for an Attach before it is
/// killed.
pub const DEFAULT_REATTACH_GRACE_MS: u64 = 60_000;
/// How long a finished process's exit status and output tail stay available to Attach and
/// ListProcesses.
pub const DEFAULT_RETAIN_FINISHED_MS: u64 = 5 * 60_000;
/// How many finished processes are kept at most; the oldest exit goes first.
pub const DEFAULT_RETAIN_FINISHED_COUNT: usize = 256;
/// Output bytes all finished processes may hold together; the oldest exit goes first.
pub const DEFAULT_RETAIN_FINISHED_BYTES: u64 = 16 * 1024 * 1024;

/// Index of stdout in per-stream arrays.
pub const STDOUT: usize = 0;
/// Index of stderr in per-stream arrays.
pub const STDERR: usize = 1;
