//! Test harness: starts the real agent binary on a Unix socket in a temp dir, and a small gRPC
//! client on h2 + prost.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use http::{HeaderMap, Request};
use prost::Message;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

pub use kelpie_agent::proto;

/// Generous upper bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(60);

/// Runs `future`, failing the test if it takes longer than `limit`.
pub async fn within<F: Future>(limit: Duration, future: F) -> F::Output {
    tokio::time::timeout(limit, future).await.expect("timed out waiting")
}

/// Polls `condition` until it holds, failing after `limit`.
pub async fn eventually<F: FnMut() -> bool>(limit: Duration, what: &str, mut condition: F) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", what);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("kelpie-test-{}-{}-{}", name, std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The agent binary running in its own temp dir.
pub struct AgentProcess {
    child: Child,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub workspace: PathBuf,
}

impl AgentProcess {
    pub async fn start(name: &str, extra_args: &[&str]) -> AgentProcess {
        Self::start_ignoring(name, extra_args, &[]).await
    }

    /// Starts the agent with `signals` ignored, as a shell's background job or nohup would.
    pub async fn start_ignoring(name: &str, extra_args: &[&str], signals: &'static [i32]) -> AgentProcess {
        let dir = temp_dir(name);
        let socket = dir.join("agent.sock");
        let workspace = dir.join("workspace");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(dir.join("kelpie-version"), "1.2.3-20261128-abcdef0\n").unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kelpie-agent"));
        // SAFETY: signal() is async-signal-safe and the closure allocates nothing.
        unsafe {
            command.pre_exec(move || {
                for signal in signals {
                    libc::signal(*signal, libc::SIG_IGN);
                }
                Ok(())
            });
        }
        let child = command
            .arg("--listen")
            .arg(format!("unix:{}", socket.display()))
            .arg("--workspace")
            .arg(&workspace)
            .arg("--image-version-file")
            .arg(dir.join("kelpie-version"))
            .arg("--generation-file")
            .arg(dir.join("run/generation"))
            .args(extra_args)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting kelpie-agent");
        let agent = AgentProcess { child, dir, socket, workspace };
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&agent.socket).await.is_err() {
            assert!(Instant::now() < deadline, "agent did not start listening");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        agent
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.socket).await
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A gRPC status as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: i32,
    pub message: String,
}

pub mod code {
    pub const OK: i32 = 0;
    pub const CANCELLED: i32 = 1;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const ABORTED: i32 = 10;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

fn status_from(headers: &HeaderMap) -> Option<Status> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    Some(Status { code, message })
}

/// A broken stream or connection, reported like a client library would: UNAVAILABLE.
fn lost(err: h2::Error) -> Status {
    Status { code: code::UNAVAILABLE, message: err.to_string() }
}

pub fn frame<M: Message>(message: &M) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(0);
    buf.put_u32(message.encoded_len() as u32);
    message.encode(&mut buf).unwrap();
    buf.freeze()
}

pub struct Client {
    send: SendRequest<Bytes>,
    connection: JoinHandle<()>,
}

impl Client {
    pub async fn connect(path: &Path) -> Client {
        let io = UnixStream::connect(path).await.expect("connect to agent");
        Client::over(io).await.expect("HTTP/2 handshake")
    }

    /// A client over any byte stream (the serial tests use socket pairs).
    pub async fn over<T>(io: T) -> Result<Client, h2::Error>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(4 * 1024 * 1024)
            .initial_connection_window_size(16 * 1024 * 1024)
            .handshake::<_, Bytes>(io)
            .await?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Client { send, connection })
    }

    /// Drops the connection abruptly, as a crashed host would (no RST_STREAM, no GOAWAY).
    pub fn drop_connection(self) {
        self.connection.abort();
    }

    /// Starts a call with raw headers; the caller sends the body.
    pub async fn start_raw(&mut self, path: &str, extra: &[(&str, &str)]) -> Call {
        let mut builder = Request::builder()
            .method("POST")
            .uri(format!("http://agent{}", path))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (k, v) in extra {
            builder = builder.header(*k, *v);
        }
        let send = self.send.clone();
        let mut send = send.ready().await.expect("connection ready");
        let (response, body) = send.send_request(builder.body(()).unwrap(), false).expect("send request");
        Call { send: Some(body), response: Some(response), recv: None, buf: BytesMut::new(), status: None, ended: false }
    }

    pub async fn call(&mut self, method: &str) -> Call {
        self.start_raw(&format!("/kelpie.agent.v1.Agent/{}", method), &[]).await
    }

    pub async fn unary<Req: Message, Resp: Message + Default>(&mut self, method: &str, request: &Req) -> Result<Resp, Status> {
        let mut call = self.call(method).await;
        call.send(request);
        call.close_send();
        let response = call.message::<Resp>().await?;
        let rest = call.message::<Resp>().await;
        match (response, rest) {
            (Some(response), Ok(None)) => Ok(response),
            (None, _) => panic!("unary call ended without a message"),
            (_, Err(status)) => Err(status),
            (_, Ok(Some(_))) => panic!("unary call sent two messages"),
        }
    }
}

/// One call: send messages, read messages, then the status.
pub struct Call {
    send: Option<SendStream<Bytes>>,
    response: Option<h2::client::ResponseFuture>,
    recv: Option<RecvStream>,
    buf: BytesMut,
    status: Option<Status>,
    ended: bool,
}

impl Call {
    pub fn send<M: Message>(&mut self, message: &M) {
        self.send_bytes(frame(message));
    }

    pub fn send_bytes(&mut self, bytes: Bytes) {
        self.send.as_mut().expect("send side open").send_data(bytes, false).expect("send data");
    }

    pub fn close_send(&mut self) {
        if let Some(mut send) = self.send.take() {
            let _ = send.send_data(Bytes::new(), true);
        }
    }

    /// Cancels the call (RST_STREAM CANCEL).
    pub fn cancel(mut self) {
        if let Some(send) = self.send.as_mut() {
            send.send_reset(h2::Reason::CANCEL);
        }
    }

    /// Next message; `Ok(None)` when the call ended OK; `Err` with a non-OK status.
    pub async fn message<M: Message + Default>(&mut self) -> Result<Option<M>, Status> {
        if let Some(response) = self.response.take() {
            let response = response.await.map_err(lost)?;
            if let Some(status) = status_from(response.headers()) {
                self.status = Some(status);
                self.ended = true;
            }
            self.recv = Some(response.into_body());
        }
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
                if self.buf.len() >= 5 + len {
                    self.buf.advance(5);
                    let payload = self.buf.split_to(len);
                    return Ok(Some(M::decode(payload).expect("decodable message")));
                }
            }
            if self.ended {
                let status = self.status.clone().expect("a status ends every call");
                return if status.code == code::OK { Ok(None) } else { Err(status) };
            }
            let recv = self.recv.as_mut().unwrap();
            match recv.data().await {
                Some(Ok(chunk)) => {
                    let _ = recv.flow_control().release_capacity(chunk.len());
                    self.buf.extend_from_slice(&chunk);
                }
                Some(Err(err)) => return Err(lost(err)),
                None => {
                    let trailers = recv.trailers().await.map_err(lost)?;
                    self.status = trailers.as_ref().and_then(status_from);
                    assert!(self.status.is_some(), "call ended without grpc-status");
                    self.ended = true;
                }
            }
        }
    }
}

// ---- process helpers ----

use proto::process_event::Kind;

pub fn start(argv: &[&str]) -> proto::ExecStart {
    proto::ExecStart { argv: argv.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

pub fn exec_start(start: proto::ExecStart) -> proto::ExecRequest {
    proto::ExecRequest { kind: Some(proto::exec_request::Kind::Start(start)) }
}

pub fn exec_input(kind: proto::process_input::Kind) -> proto::ExecRequest {
    proto::ExecRequest { kind: Some(proto::exec_request::Kind::Input(proto::ProcessInput { kind: Some(kind) })) }
}

pub fn stdin(data: &[u8], offset: u64) -> proto::process_input::Kind {
    proto::process_input::Kind::Stdin(proto::StdinChunk { data: data.to_vec(), offset_bytes: offset })
}

/// Everything one process stream delivered.
#[derive(Debug, Default)]
pub struct Outcome {
    pub started: Option<proto::Started>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exited: Option<proto::Exited>,
    pub failed: Option<proto::Failed>,
    pub events_after_final: usize,
}

impl Outcome {
    pub fn exit_code(&self) -> Option<i32> {
        match self.exited.as_ref()?.status {
            Some(proto::exited::Status::ExitCode(c)) => Some(c),
            _ => None,
        }
    }
    pub fn signal(&self) -> Option<i32> {
        match self.exited.as_ref()?.status {
            Some(proto::exited::Status::Signal(s)) => Some(s),
            _ => None,
        }
    }
}

/// Applies one event to an outcome, checking offsets are contiguous.
pub fn record(outcome: &mut Outcome, event: proto::ProcessEvent) {
    if outcome.exited.is_some() || outcome.failed.is_some() {
        outcome.events_after_final += 1;
    }
    match event.kind.expect("event kind") {
        Kind::Started(s) => outcome.started = Some(s),
        Kind::Output(chunk) => {
            assert!(chunk.data.len() <= 64 * 1024, "chunk of {} bytes", chunk.data.len());
            let target = if chunk.stream == proto::OutputStream::Stderr as i32 { &mut outcome.stderr } else { &mut outcome.stdout };
            assert_eq!(chunk.offset_bytes, target.len() as u64, "offsets must be contiguous");
            target.extend_from_slice(&chunk.data);
        }
        Kind::StdinError(_) => {}
        Kind::Exited(e) => outcome.exited = Some(e),
        Kind::Failed(f) => outcome.failed = Some(f),
    }
}

/// Reads an Exec call to its end.
pub async fn finish_exec(call: &mut Call, outcome: &mut Outcome) -> Result<(), Status> {
    while let Some(response) = call.message::<proto::ExecResponse>().await? {
        record(outcome, response.event.expect("event"));
    }
    assert!(outcome.exited.is_some() || outcome.failed.is_some(), "stream ended without a final event");
    assert_eq!(outcome.events_after_final, 0, "events after the final event");
    Ok(())
}

/// Runs a command to completion over one Exec call.
pub async fn run(client: &mut Client, start: proto::ExecStart) -> Outcome {
    let mut call = client.call("Exec").await;
    call.send(&exec_start(start));
    let mut outcome = Outcome::default();
    finish_exec(&mut call, &mut outcome).await.expect("exec call status");
    outcome
}

/// Reads events until stdout contains `needle`.
pub async fn read_until(call: &mut Call, outcome: &mut Outcome, needle: &str) {
    while !String::from_utf8_lossy(&outcome.stdout).contains(needle) {
        let response = call.message::<proto::ExecResponse>().await.expect("status").expect("stream ended early");
        record(outcome, response.event.expect("event"));
    }
}

/// Reads events until the process has started.
pub async fn read_until_started(call: &mut Call, outcome: &mut Outcome) {
    while outcome.started.is_none() {
        let response = call.message::<proto::ExecResponse>().await.expect("status").expect("stream ended early");
        record(outcome, response.event.expect("event"));
    }
}

pub fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); the agent reaps its children, so a dead one disappears.
    // /proc/PID/stat state Z means it is dead but not yet reaped.
    match std::fs::read_to_string(format!("/proc/{}/stat", pid)) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}
