//! Tracked processes: their output rings, final event, attachment and input.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::output::{OutputRing, OUTPUT_RING_BYTES};
use super::reaper::Reaper;
use super::spawn::{self, SpawnSettings};
use super::{supervise, MAX_CHUNK_BYTES, STDERR, STDOUT};
use crate::proto::{
    self, process_event::Kind, ExecStart, Exited, Failed, OutputChunk, OutputStream, ProcessEvent, ProcessInfo,
    ProcessState, StdinError,
};
use crate::sys;
use crate::transport::FdStream;

/// Stdin errors kept for a host that is not attached right now.
const MAX_PENDING_NOTICES: usize = 16;
/// The terminal's end-of-file character (VEOF, ^D), sent for StdinEof on a PTY.
const PTY_EOF_BYTE: u8 = 0x04;

/// What the attached stream should do next.
#[derive(Debug)]
pub enum Next {
    /// Send this event; for output, then call `mark_sent(stream, end_offset)`.
    Send(ProcessEvent, Option<(usize, u64)>),
    /// Send the final event; the stream is done.
    Final(ProcessEvent),
    /// Another Attach took over this process.
    Superseded,
    /// Nothing yet: wait for a change.
    Wait,
}

/// Why an attached stream let go of its process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The final event was delivered (or the stream ended for another harmless reason).
    Done,
    /// The client cancelled the call: kill the process unless it is detached.
    Cancelled,
    /// The connection dropped: keep running, kill after the grace period unless re-attached.
    Lost,
}

pub struct Process {
    pub id: String,
    pub pid: u32,
    pub argv: Vec<String>,
    pub detached: bool,
    pub started_at_unix_ms: u64,
    state: Mutex<ProcState>,
    changed: watch::Sender<u64>,
    input: tokio::sync::Mutex<Input>,
    terminal: Option<Arc<FdStream>>,
}

struct Input {
    stdin: Option<Arc<FdStream>>,
    written_bytes: u64,
}

struct ProcState {
    rings: [OutputRing; 2],
    truncated: [bool; 2],
    notices: VecDeque<ProcessEvent>,
    exited: Option<Exited>,
    final_event: Option<ProcessEvent>,
    attach_epoch: u64,
    attached: bool,
}

impl Process {
    pub(super) fn new(
        id: String,
        pid: u32,
        start: &ExecStart,
        stdin: Option<Arc<FdStream>>,
        terminal: Option<Arc<FdStream>>,
    ) -> Process {
        let (changed, _) = watch::channel(0);
        Process {
            id,
            pid,
            argv: start.argv.clone(),
            detached: start.detached,
            started_at_unix_ms: unix_ms(),
            state: Mutex::new(ProcState {
                rings: [OutputRing::new(OUTPUT_RING_BYTES), OutputRing::new(OUTPUT_RING_BYTES)],
                truncated: [false; 2],
                notices: VecDeque::new(),
                exited: None,
                final_event: None,
                attach_epoch: 0,
                attached: false,
            }),
            changed,
            input: tokio::sync::Mutex::new(Input { stdin, written_bytes: 0 }),
            terminal,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that wakes on every state change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Takes over the process for a new stream; an earlier stream becomes `Superseded`.
    pub fn attach(&self) -> u64 {
        let epoch = {
            let mut state = self.lock();
            state.attach_epoch += 1;
            state.attached = true;
            state.attach_epoch
        };
        self.bump();
        epoch
    }

    /// Lets go of the process; returns whether `epoch` was still the current attachment.
    fn release(&self, epoch: u64) -> bool {
        let current = {
            let mut state = self.lock();
            let current = state.attach_epoch == epoch;
            if current {
                state.attached = false;
            }
            current
        };
        self.bump();
        current
    }

    fn still_detached_since(&self, epoch: u64) -> bool {
        let state = self.lock();
        state.attach_epoch == epoch && !state.attached
    }

    pub fn is_finished(&self) -> bool {
        self.lock().final_event.is_some()
    }

    /// Next thing to send to the stream attached at `epoch`, reading from `cursors`.
    /// `prefer` alternates between stdout and stderr so neither starves the other.
    pub fn next_event(&self, epoch: u64, cursors: &mut [u64; 2], prefer: &mut usize) -> Next {
        let mut state = self.lock();
        if state.attach_epoch != epoch {
            return Next::Superseded;
        }
        if let Some(notice) = state.notices.pop_front() {
            return Next::Send(notice, None);
        }
        for i in 0..2 {
            let stream = (*prefer + i) % 2;
            let (offset, data) = state.rings[stream].read_from(cursors[stream], MAX_CHUNK_BYTES);
            if !data.is_empty() {
                *prefer = (stream + 1) % 2;
                let end = offset + data.len() as u64;
                cursors[stream] = end;
                let which = if stream == STDOUT { OutputStream::Stdout } else { OutputStream::Stderr };
                let event = event(Kind::Output(OutputChunk { stream: which as i32, data, offset_bytes: offset }));
                return Next::Send(event, Some((stream, end)));
            }
        }
        match &state.final_event {
            Some(event) if state.rings.iter().all(|r| r.is_eof()) => Next::Final(event.clone()),
            _ => Next::Wait,
        }
    }

    /// Records that the host stream took bytes up to `offset`, letting the reader go on.
    pub fn mark_sent(&self, stream: usize, offset: u64) {
        self.lock().rings[stream].mark_sent(offset);
        self.bump();
    }

    /// Bytes the pipe reader may read now; 0 means wait for the host.
    pub(super) fn writable_bytes(&self, stream: usize) -> usize {
        let state = self.lock();
        // A detached process with nobody attached must not stall: its ring just keeps the tail.
        let overwrite = self.detached && !state.attached;
        state.rings[stream].writable_bytes(overwrite)
    }

    /// Appends output, honouring the per-stream limit (0 = none).
    pub(super) fn append(&self, stream: usize, bytes: &[u8], limit_bytes: u64) {
        {
            let mut state = self.lock();
            let ring = &mut state.rings[stream];
            let kept = if limit_bytes == 0 {
                bytes.len()
            } else {
                limit_bytes.saturating_sub(ring.end_offset()).min(bytes.len() as u64) as usize
            };
            ring.push(&bytes[..kept]);
            if kept < bytes.len() {
                state.truncated[stream] = true;
            }
        }
        self.bump();
    }

    /// Whether the stream reached its limit, so the reader only discards from now on.
    pub(super) fn over_limit(&self, stream: usize, limit_bytes: u64) -> bool {
        limit_bytes != 0 && self.lock().rings[stream].end_offset() >= limit_bytes
    }

    pub(super) fn set_eof(&self, stream: usize) {
        self.lock().rings[stream].set_eof();
        self.bump();
    }

    /// Records the final event; completes `Exited` with the truncation flags.
    pub(super) fn finish(&self, mut exited: Exited) {
        {
            let mut state = self.lock();
            exited.stdout_truncated = state.truncated[STDOUT];
            exited.stderr_truncated = state.truncated[STDERR];
            for ring in state.rings.iter_mut() {
                ring.set_eof();
            }
            state.final_event = Some(event(Kind::Exited(exited.clone())));
            state.exited = Some(exited);
        }
        self.bump();
    }

    fn notice(&self, event: ProcessEvent) {
        {
            let mut state = self.lock();
            if state.notices.len() < MAX_PENDING_NOTICES {
                state.notices.push_back(event);
            }
        }
        self.bump();
    }

    /// Signals the process group (the process is a session leader, so its pid is the group).
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        match sys::kill_group(self.pid as i32, signal) {
            // The leader may be gone while its group lives on, or both may be gone.
            Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }

    /// Writes stdin bytes at `offset`; bytes before what was already written are skipped so a
    /// client may resend after a reconnect. Failures become a StdinError event.
    pub async fn write_stdin(&self, data: &[u8], offset: u64) {
        let mut input = self.input.lock().await;
        let skip = input.written_bytes.saturating_sub(offset).min(data.len() as u64) as usize;
        let data = &data[skip..];
        let stdin = match input.stdin.clone() {
            Some(stdin) => stdin,
            None => {
                if !data.is_empty() {
                    self.stdin_error(io::Error::from_raw_os_error(libc::EPIPE), "stdin is closed or not a pipe");
                }
                return;
            }
        };
        let mut written = 0;
        while written < data.len() {
            match stdin.write_some(&data[written..]).await {
                Ok(n) => written += n,
                Err(err) => {
                    self.stdin_error(err, "writing stdin failed");
                    input.stdin = None;
                    break;
                }
            }
        }
        input.written_bytes += written as u64;
    }

    /// Closes stdin; on a PTY sends the terminal's EOF character instead.
    pub async fn close_stdin(&self) {
        let mut input = self.input.lock().await;
        if self.terminal.is_some() {
            if let Some(stdin) = input.stdin.clone() {
                if let Err(err) = stdin.write_some(&[PTY_EOF_BYTE]).await {
                    self.stdin_error(err, "sending EOF to the terminal failed");
                }
            }
        } else {
            input.stdin = None;
        }
    }

    fn stdin_error(&self, err: io::Error, what: &str) {
        let errno = err.raw_os_error().unwrap_or(0);
        self.notice(event(Kind::StdinError(StdinError { reason: format!("{}: {}", what, err), errno })));
    }

    pub fn resize(&self, rows: u32, columns: u32) -> io::Result<()> {
        match &self.terminal {
            Some(terminal) => sys::set_window_size(terminal.as_raw_fd(), clamp_u16(rows), clamp_u16(columns)),
            None => Err(io::Error::from_raw_os_error(libc::ENOTTY)),
        }
    }

    pub fn info(&self) -> ProcessInfo {
        let state = self.lock();
        ProcessInfo {
            id: self.id.clone(),
            pid: self.pid,
            argv: self.argv.clone(),
            state: if state.final_event.is_some() { ProcessState::Exited } else { ProcessState::Running } as i32,
            detached: self.detached,
            attached: state.attached,
            started_at_unix_ms: self.started_at_unix_ms,
            stdout_bytes: state.rings[STDOUT].end_offset(),
            stderr_bytes: state.rings[STDERR].end_offset(),
            exited: state.exited.clone(),
        }
    }

    /// Keeps only the tail of each stream once the final event reached a host.
    fn keep_tail(&self, max_bytes: usize) {
        let mut state = self.lock();
        for ring in state.rings.iter_mut() {
            ring.keep_tail(max_bytes);
        }
    }

    /// Memory held by the output buffers.
    fn memory_bytes(&self) -> u64 {
        self.lock().rings.iter().map(|r| r.memory_bytes() as u64).sum()
    }

    /// Offsets of the oldest bytes still buffered, for Attach.
    pub fn buffer_start(&self) -> [u64; 2] {
        let state = self.lock();
        [state.rings[STDOUT].start_offset(), state.rings[STDERR].start_offset()]
    }
}

fn clamp_u16(v: u32) -> u16 {
    v.min(u16::MAX as u32) as u16
}

pub fn event(kind: Kind) -> ProcessEvent {
    ProcessEvent { kind: Some(kind) }
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// How long, and how many, finished processes stay known after they exit, so that a host that
/// attaches late (another client, or the same one after a network blip) still gets the exit
/// status and the tail of the output instead of NOT_FOUND.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub time: Duration,
    pub max_count: usize,
    /// Output bytes all finished processes may hold together.
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            time: Duration::from_millis(super::DEFAULT_RETAIN_FINISHED_MS),
            max_count: super::DEFAULT_RETAIN_FINISHED_COUNT,
            max_bytes: super::DEFAULT_RETAIN_FINISHED_BYTES,
        }
    }
}

/// Output kept per stream of a finished process once its final event reached a host.
pub const RETAINED_TAIL_BYTES: usize = 64 * 1024;

struct Table {
    procs: HashMap<String, Arc<Process>>,
    /// Finished processes still known, oldest exit first: the first to go when a bound is hit.
    finished: VecDeque<Arc<Process>>,
}

impl Table {
    fn forget(&mut self, process: &Arc<Process>) {
        if self.procs.get(&process.id).map(|p| Arc::ptr_eq(p, process)).unwrap_or(false) {
            self.procs.remove(&process.id);
        }
        self.finished.retain(|p| !Arc::ptr_eq(p, process));
    }

    /// Drops the oldest finished processes until the retention bounds hold.
    fn enforce(&mut self, retention: &Retention) {
        let mut bytes: u64 = self.finished.iter().map(|p| p.memory_bytes()).sum();
        while self.finished.len() > retention.max_count || (bytes > retention.max_bytes && !self.finished.is_empty()) {
            let oldest = self.finished.front().cloned().expect("not empty");
            bytes = bytes.saturating_sub(oldest.memory_bytes());
            self.forget(&oldest);
        }
    }
}

/// All processes the agent tracks.
pub struct Registry {
    table: Mutex<Table>,
    next_id: AtomicU64,
    reaper: Arc<Reaper>,
    settings: SpawnSettings,
    reattach_grace: Duration,
    retention: Retention,
}

impl Registry {
    pub fn new(reaper: Arc<Reaper>, settings: SpawnSettings, reattach_grace: Duration, retention: Retention) -> Arc<Registry> {
        Arc::new(Registry {
            table: Mutex::new(Table { procs: HashMap::new(), finished: VecDeque::new() }),
            next_id: AtomicU64::new(1),
            reaper,
            settings,
            reattach_grace,
            retention,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a process and its supervisor, or says why it could not start.
    pub fn start(self: &Arc<Self>, start: ExecStart, base_env: &HashMap<String, String>) -> Result<Arc<Process>, Failed> {
        let id = if start.id.is_empty() {
            format!("p{}", self.next_id.fetch_add(1, Ordering::Relaxed))
        } else {
            start.id.clone()
        };
        // Reserve the id before spawning so two concurrent Execs cannot both take it. A finished
        // process gives its id up to a new one.
        let mut table = self.lock();
        match table.procs.get(&id).cloned() {
            Some(running) if !running.is_finished() => {
                return Err(spawn::failure(proto::FailureStage::Request, format!("process id {:?} is in use", id), 0));
            }
            Some(finished) => table.forget(&finished),
            None => {}
        }
        let mut spawned = spawn::spawn(&start, base_env, &self.settings, &self.reaper)?;
        // The process owns stdin alone: any other copy would keep the pipe open past StdinEof.
        let process = Arc::new(Process::new(id.clone(), spawned.pid, &start, spawned.stdin.take(), spawned.terminal.take()));
        table.procs.insert(id, process.clone());
        drop(table);
        supervise::start(self.clone(), process.clone(), spawned, &start);
        Ok(process)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Process>> {
        self.lock().procs.get(id).cloned()
    }

    /// A finished process's final event reached a stream: from now on only the tail of its output
    /// is kept, for late Attaches, until the retention time or bounds let it go.
    pub fn collect(&self, process: &Arc<Process>) {
        process.keep_tail(RETAINED_TAIL_BYTES);
        self.lock().enforce(&self.retention);
    }

    pub fn all(&self) -> Vec<Arc<Process>> {
        let mut all: Vec<Arc<Process>> = self.lock().procs.values().cloned().collect();
        all.sort_by(|a, b| a.started_at_unix_ms.cmp(&b.started_at_unix_ms).then(a.id.cmp(&b.id)));
        all
    }

    pub fn running_count(&self) -> usize {
        self.lock().procs.values().filter(|p| !p.is_finished()).count()
    }

    pub fn reattach_grace(&self) -> Duration {
        self.reattach_grace
    }

    /// A stream lets go of `process`. Cancellation kills an attached process now; a lost
    /// connection kills it only if nobody re-attaches within the grace period.
    pub fn release(self: &Arc<Self>, process: &Arc<Process>, epoch: u64, how: Release) {
        if !process.release(epoch) || process.detached || process.is_finished() {
            return;
        }
        match how {
            Release::Done => {}
            Release::Cancelled => {
                let _ = process.signal(libc::SIGKILL);
            }
            Release::Lost => {
                let process = process.clone();
                let grace = self.reattach_grace;
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    if process.still_detached_since(epoch) && !process.is_finished() {
                        crate::log!("process {} not re-attached within {:?}: killing it", process.id, grace);
                        let _ = process.signal(libc::SIGKILL);
                    }
                });
            }
        }
    }

    /// A process exited: it stays known for the retention time (or until the bounds push it out).
    pub(super) fn retire_later(self: &Arc<Self>, process: &Arc<Process>) {
        {
            let mut table = self.lock();
            table.finished.push_back(process.clone());
            table.enforce(&self.retention);
        }
        let registry = self.clone();
        let process = process.clone();
        let keep = self.retention.time;
        tokio::spawn(async move {
            tokio::time::sleep(keep).await;
            registry.lock().forget(&process);
        });
    }
}
