//! One reaper for every child: as PID 1 or subreaper the agent inherits orphans, so it waits for
//! any pid (wait4(-1)) and routes the statuses of the processes it started to their supervisors.

use std::collections::HashMap;
use std::io;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use crate::sys::{self, Reaped};

/// Backstop poll in case a SIGCHLD was coalesced away at an unlucky moment.
const REAP_POLL_MS: u64 = 1000;

#[derive(Default)]
pub struct Reaper {
    waiters: Mutex<HashMap<i32, oneshot::Sender<Reaped>>>,
}

impl Reaper {
    pub fn new() -> Arc<Reaper> {
        Arc::new(Reaper::default())
    }

    /// Starts reaping on SIGCHLD. Must run inside the tokio runtime.
    pub fn start(self: &Arc<Self>) -> io::Result<()> {
        let mut sigchld = signal(SignalKind::child())?;
        let reaper = self.clone();
        tokio::spawn(async move {
            loop {
                reaper.reap_all();
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = tokio::time::sleep(Duration::from_millis(REAP_POLL_MS)) => {}
                }
            }
        });
        Ok(())
    }

    /// Spawns `command` and registers for its exit status. The lock is held across the spawn so
    /// that the reaper cannot collect the child before it is registered (nor collect a child whose
    /// exec failed, which std reaps itself).
    pub fn spawn(&self, command: &mut Command) -> io::Result<(u32, oneshot::Receiver<Reaped>)> {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let child = command.spawn()?;
        let pid = child.id();
        // Dropping a std Child neither waits nor kills; the reaper owns its status from here.
        drop(child);
        let (tx, rx) = oneshot::channel();
        waiters.insert(pid as i32, tx);
        Ok((pid, rx))
    }

    fn reap_all(&self) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(reaped) = sys::reap_any() {
            if let Some(tx) = waiters.remove(&reaped.pid) {
                let _ = tx.send(reaped);
            }
        }
    }
}
