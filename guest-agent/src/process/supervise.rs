//! The life of one process after spawn: pipe readers, timeout, exit, the bounded drain after exit,
//! and exactly one final event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::registry::{Process, Registry};
use super::spawn::Spawned;
use super::{DEFAULT_KILL_GRACE_MS, DEFAULT_WAIT_DELAY_MS, MAX_CHUNK_BYTES, STDERR, STDOUT};
use crate::proto::{exited, ExecStart, Exited, ResourceUsage};
use crate::transport::FdStream;

/// After the drain deadline, bytes still read while they are immediately available (what the
/// main process left in the pipe), before giving up on descendants that keep writing.
const DRAIN_AFTER_DEADLINE_BYTES: usize = 1024 * 1024;

struct Limits {
    timeout: Option<Duration>,
    kill_grace: Duration,
    wait_delay: Duration,
    output_limit_bytes: [u64; 2],
}

impl Limits {
    fn from_start(start: &ExecStart) -> Limits {
        let or_default = |v: u64, d: u64| Duration::from_millis(if v == 0 { d } else { v });
        Limits {
            timeout: if start.timeout_ms == 0 { None } else { Some(Duration::from_millis(start.timeout_ms)) },
            kill_grace: or_default(start.kill_grace_ms as u64, DEFAULT_KILL_GRACE_MS),
            wait_delay: or_default(start.wait_delay_ms as u64, DEFAULT_WAIT_DELAY_MS),
            output_limit_bytes: [start.stdout_limit_bytes, start.stderr_limit_bytes],
        }
    }
}

/// Where an output source is: a pipe of its own, or the shared PTY master.
enum Source {
    Owned(FdStream),
    Shared(Arc<FdStream>),
}

impl Source {
    fn stream(&self) -> &FdStream {
        match self {
            Source::Owned(s) => s,
            Source::Shared(s) => s,
        }
    }
}

pub(super) fn start(registry: Arc<Registry>, process: Arc<Process>, spawned: Spawned, start: &ExecStart) {
    let limits = Limits::from_start(start);
    tokio::spawn(supervise(registry, process, spawned, limits));
}

async fn supervise(registry: Arc<Registry>, process: Arc<Process>, spawned: Spawned, limits: Limits) {
    let started = Instant::now();
    let (drain_tx, drain_rx) = watch::channel(None::<Instant>);
    let stdout = tokio::spawn(pump(process.clone(), STDOUT, Source::Shared(spawned.stdout), limits.output_limit_bytes[STDOUT], drain_rx.clone()));
    let stderr = match spawned.stderr {
        Some(stderr) => Some(tokio::spawn(pump(process.clone(), STDERR, Source::Owned(stderr), limits.output_limit_bytes[STDERR], drain_rx))),
        None => {
            process.set_eof(STDERR);
            None
        }
    };

    let mut exit = spawned.exit;
    let mut timed_out = false;
    let reaped = match limits.timeout {
        None => (&mut exit).await,
        Some(timeout) => tokio::select! {
            reaped = &mut exit => reaped,
            _ = tokio::time::sleep(timeout) => {
                timed_out = true;
                let _ = process.signal(libc::SIGTERM);
                let on_term = tokio::time::timeout(limits.kill_grace, &mut exit).await;
                // KILL the group even if the leader left on TERM: descendants may have ignored it.
                let _ = process.signal(libc::SIGKILL);
                // A oneshot receiver must not be polled again once it delivered (tokio panics).
                match on_term {
                    Ok(reaped) => reaped,
                    Err(_) => (&mut exit).await,
                }
            }
        },
    };
    let duration_ms = started.elapsed().as_millis() as u64;

    let _ = drain_tx.send(Some(Instant::now() + limits.wait_delay));
    let mut output_may_continue = stdout.await.unwrap_or(false);
    if let Some(stderr) = stderr {
        output_may_continue |= stderr.await.unwrap_or(false);
    }

    let mut exited = Exited { timed_out, output_may_continue, duration_ms, ..Default::default() };
    match reaped {
        Ok(reaped) => {
            exited.status = match (reaped.exit_code(), reaped.signal()) {
                (Some(code), _) => Some(exited::Status::ExitCode(code)),
                (None, Some(signal)) => Some(exited::Status::Signal(signal)),
                _ => None,
            };
            exited.core_dumped = reaped.core_dumped();
            exited.usage = Some(ResourceUsage {
                user_cpu_ms: reaped.user_cpu_ms,
                system_cpu_ms: reaped.system_cpu_ms,
                max_rss_kib: reaped.max_rss_kib,
            });
        }
        Err(_) => crate::log!("process {}: exit status lost", process.id),
    }
    process.finish(exited);
    registry.retire_later(&process);
}

/// Copies one output source into the process's ring until EOF. Returns whether it stopped at the
/// drain deadline with the pipe still open (descendants may keep writing).
async fn pump(process: Arc<Process>, stream: usize, source: Source, limit_bytes: u64, mut drain: watch::Receiver<Option<Instant>>) -> bool {
    let mut buf = vec![0u8; MAX_CHUNK_BYTES];
    let mut changes = process.subscribe();
    loop {
        // Backpressure: while the host has not taken enough, leave the bytes in the pipe.
        let room = loop {
            changes.borrow_and_update();
            if process.over_limit(stream, limit_bytes) {
                break buf.len();
            }
            let room = process.writable_bytes(stream);
            if room > 0 {
                break room.min(buf.len());
            }
            let _ = changes.changed().await;
        };
        let deadline = *drain.borrow_and_update();
        let read = match deadline {
            None => tokio::select! {
                read = source.stream().read_some(&mut buf[..room]) => read,
                _ = drain.changed() => continue,
            },
            Some(deadline) => tokio::select! {
                read = source.stream().read_some(&mut buf[..room]) => read,
                _ = tokio::time::sleep_until(deadline.into()) => {
                    return drain_available(&process, stream, &source, limit_bytes, &mut buf).await;
                }
            },
        };
        match read {
            Ok(0) => break,
            Ok(n) => process.append(stream, &buf[..n], limit_bytes),
            Err(err) => {
                crate::log!("process {}: reading output failed: {}", process.id, err);
                break;
            }
        }
    }
    process.set_eof(stream);
    false
}

/// Past the deadline: take what is in the pipe right now, then stop.
async fn drain_available(process: &Arc<Process>, stream: usize, source: &Source, limit_bytes: u64, buf: &mut [u8]) -> bool {
    let mut drained = 0;
    let mut changes = process.subscribe();
    let may_continue = loop {
        if drained >= DRAIN_AFTER_DEADLINE_BYTES {
            break true;
        }
        changes.borrow_and_update();
        let room = if process.over_limit(stream, limit_bytes) { buf.len() } else { process.writable_bytes(stream).min(buf.len()) };
        if room == 0 {
            let _ = changes.changed().await;
            continue;
        }
        match source.stream().try_read_now(&mut buf[..room]) {
            Ok(Some(0)) | Err(_) => break false,
            Ok(Some(n)) => {
                process.append(stream, &buf[..n], limit_bytes);
                drained += n;
            }
            Ok(None) => break true,
        }
    };
    process.set_eof(stream);
    may_continue
}
