//! Processes started by Exec: spawning, output buffering, supervision and the registry that lets
//! a host re-attach after losing its connection.

pub mod output;
pub mod reaper;
pub mod registry;
pub mod spawn;
mod supervise;
pub mod users;

pub use registry::{Next, Process, Registry, Release};

/// Largest output chunk sent to the host, in bytes.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;
/// Drain time after the main process exited while descendants hold the pipes, when the request
/// says 0.
pub const DEFAULT_WAIT_DELAY_MS: u64 = 1000;
/// Time between SIGTERM and SIGKILL on timeout, when the request says 0.
pub const DEFAULT_KILL_GRACE_MS: u64 = 2000;
/// How long a non-detached process whose host connection dropped waits for an Attach before it is
/// killed, and how long a finished process nobody collected stays listed.
pub const DEFAULT_REATTACH_GRACE_MS: u64 = 60_000;

/// Index of stdout in per-stream arrays.
pub const STDOUT: usize = 0;
/// Index of stderr in per-stream arrays.
pub const STDERR: usize = 1;
