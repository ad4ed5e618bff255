//! Exec, Attach, ListProcesses and Signal.

use std::sync::Arc;

use prost::Message;

use super::Agent;
use crate::error::AgentError;
use crate::grpc::{CallError, Code, RequestStream, ResponseSink, Status};
use crate::process::registry::event;
use crate::process::{Next, Process, Registry, Release};
use crate::proto::{
    attach_request, exec_request, process_event::Kind, process_input, AttachRequest, AttachResponse, ExecRequest,
    ExecResponse, ListProcessesRequest, ListProcessesResponse, ProcessEvent, ProcessInput, SignalRequest,
    SignalResponse, Started,
};

/// Highest Linux signal number (SIGRTMAX).
const MAX_SIGNAL: i32 = 64;

pub async fn exec(agent: &Agent, mut request: RequestStream, sink: &mut ResponseSink) -> Result<(), CallError> {
    let start = match request.message::<ExecRequest>().await? {
        Some(ExecRequest { kind: Some(exec_request::Kind::Start(start)) }) => start,
        _ => return Err(AgentError::invalid("the first Exec message must be start").into()),
    };
    let process = match agent.registry.start(start, &agent.default_env()) {
        Ok(process) => process,
        Err(failed) => return sink.send(&wrap_exec(event(Kind::Failed(failed)))).await,
    };
    follow(&agent.registry, process, [0, 0], request, sink, input_of_exec, wrap_exec).await
}

pub async fn attach(agent: &Agent, mut request: RequestStream, sink: &mut ResponseSink) -> Result<(), CallError> {
    let start = match request.message::<AttachRequest>().await? {
        Some(AttachRequest { kind: Some(attach_request::Kind::Start(start)) }) => start,
        _ => return Err(AgentError::invalid("the first Attach message must be start").into()),
    };
    let process = agent.registry.get(&start.id).ok_or_else(|| AgentError::NotFound(format!("no process {:?}", start.id)))?;
    let cursors = [start.stdout_offset_bytes, start.stderr_offset_bytes];
    follow(&agent.registry, process, cursors, request, sink, input_of_attach, wrap_attach).await
}

pub async fn list(agent: &Agent, _request: ListProcessesRequest) -> Result<ListProcessesResponse, AgentError> {
    Ok(ListProcessesResponse { processes: agent.registry.all().iter().map(|p| p.info()).collect() })
}

pub async fn signal(agent: &Agent, request: SignalRequest) -> Result<SignalResponse, AgentError> {
    check_signal(request.signal)?;
    let process = agent.registry.get(&request.id).ok_or_else(|| AgentError::NotFound(format!("no process {:?}", request.id)))?;
    if process.is_finished() {
        return Err(AgentError::FailedPrecondition(format!("process {:?} has exited", request.id)));
    }
    process.signal(request.signal).map_err(|e| AgentError::io("kill", e))?;
    Ok(SignalResponse {})
}

fn check_signal(signal: i32) -> Result<(), AgentError> {
    if (1..=MAX_SIGNAL).contains(&signal) {
        Ok(())
    } else {
        Err(AgentError::invalid(format!("signal {} out of range 1..={}", signal, MAX_SIGNAL)))
    }
}

fn input_of_exec(request: ExecRequest) -> Option<ProcessInput> {
    match request.kind {
        Some(exec_request::Kind::Input(input)) => Some(input),
        _ => None,
    }
}

fn input_of_attach(request: AttachRequest) -> Option<ProcessInput> {
    match request.kind {
        Some(attach_request::Kind::Input(input)) => Some(input),
        _ => None,
    }
}

fn wrap_exec(event: ProcessEvent) -> ExecResponse {
    ExecResponse { event: Some(event) }
}

fn wrap_attach(event: ProcessEvent) -> AttachResponse {
    AttachResponse { event: Some(event) }
}

/// Releases the attachment however the stream ends, including when the call's future is dropped
/// at its deadline (which counts as a cancellation).
struct AttachmentGuard {
    registry: Arc<Registry>,
    process: Arc<Process>,
    epoch: u64,
    how: Release,
}

impl Drop for AttachmentGuard {
    fn drop(&mut self) {
        self.registry.release(&self.process, self.epoch, self.how);
    }
}

fn release_for(result: &Result<(), CallError>) -> Release {
    match result {
        Ok(()) | Err(CallError::Status(_)) => Release::Done,
        Err(CallError::Cancelled) => Release::Cancelled,
        Err(CallError::ConnectionLost) => Release::Lost,
    }
}

/// Shared by Exec and Attach: Started, then output from `cursors`, then the final event, while a
/// separate task feeds the stream's input to the process.
async fn follow<R, W>(
    registry: &Arc<Registry>,
    process: Arc<Process>,
    mut cursors: [u64; 2],
    request: RequestStream,
    sink: &mut ResponseSink,
    input_of: fn(R) -> Option<ProcessInput>,
    wrap: fn(ProcessEvent) -> W,
) -> Result<(), CallError>
where
    R: Message + Default + Send + 'static,
    W: Message,
{
    let epoch = process.attach();
    let mut guard = AttachmentGuard { registry: registry.clone(), process: process.clone(), epoch, how: Release::Cancelled };
    let started = event(Kind::Started(Started { pid: process.pid, id: process.id.clone() }));
    if let Err(err) = sink.send(&wrap(started)).await {
        let result = Err(err);
        guard.how = release_for(&result);
        return result;
    }
    let input = tokio::spawn(forward_input(process.clone(), request, input_of));
    let result = stream_events(&process, epoch, &mut cursors, sink, wrap).await;
    input.abort();
    guard.how = release_for(&result);
    if result.is_ok() {
        registry.collect(&process);
    }
    result
}

async fn stream_events<W: Message>(
    process: &Process,
    epoch: u64,
    cursors: &mut [u64; 2],
    sink: &mut ResponseSink,
    wrap: fn(ProcessEvent) -> W,
) -> Result<(), CallError> {
    let mut changes = process.subscribe();
    let mut prefer = 0;
    loop {
        changes.borrow_and_update();
        match process.next_event(epoch, cursors, &mut prefer) {
            Next::Send(event, sent) => {
                sink.send(&wrap(event)).await?;
                if let Some((stream, offset)) = sent {
                    process.mark_sent(stream, offset);
                }
            }
            Next::Final(event) => return sink.send(&wrap(event)).await,
            Next::Superseded => {
                return Err(Status::new(Code::Aborted, "another Attach took over this process").into());
            }
            Next::Wait => {
                tokio::select! {
                    _ = changes.changed() => {}
                    err = sink.closed() => return Err(err),
                }
            }
        }
    }
}

async fn forward_input<R: Message + Default>(process: Arc<Process>, mut request: RequestStream, input_of: fn(R) -> Option<ProcessInput>) {
    loop {
        match request.message::<R>().await {
            Ok(Some(message)) => {
                if let Some(input) = input_of(message) {
                    apply_input(&process, input).await;
                }
            }
            // Half-close ends input from this stream; stdin stays open until an explicit StdinEof
            // (a later Attach may still write to it).
            Ok(None) => return,
            Err(err) => {
                if let CallError::Status(status) = err {
                    crate::log!("process {}: bad input message: {}", process.id, status);
                }
                return;
            }
        }
    }
}

async fn apply_input(process: &Process, input: ProcessInput) {
    match input.kind {
        Some(process_input::Kind::Stdin(chunk)) => process.write_stdin(&chunk.data, chunk.offset_bytes).await,
        Some(process_input::Kind::StdinEof(_)) => process.close_stdin().await,
        Some(process_input::Kind::Signal(delivery)) => {
            if check_signal(delivery.signal).is_ok() {
                if let Err(err) = process.signal(delivery.signal) {
                    crate::log!("process {}: signal {} failed: {}", process.id, delivery.signal, err);
                }
            }
        }
        Some(process_input::Kind::Resize(size)) => {
            if let Err(err) = process.resize(size.rows, size.columns) {
                crate::log!("process {}: resize failed: {}", process.id, err);
            }
        }
        None => {}
    }
}
