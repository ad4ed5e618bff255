//! ExportWorkspace and ImportWorkspace: tar streams piped between the call and a blocking task.

use std::io::{self, Read, Write};

use tokio::sync::mpsc;

use super::{blocking, Agent};
use crate::error::AgentError;
use crate::fs::archive::{self, EXPORT_CHUNK_BYTES};
use crate::grpc::{CallError, RequestStream, ResponseSink};
use crate::proto::{import_workspace_request, ExportWorkspaceRequest, ExportWorkspaceResponse, ImportWorkspaceRequest, ImportWorkspaceResponse};

/// Chunks in flight between the tar task and the call; bounds memory to a few MiB.
const PIPE_DEPTH_CHUNKS: usize = 4;

pub async fn export(agent: &Agent, mut request: RequestStream, sink: &mut ResponseSink) -> Result<(), CallError> {
    let _: ExportWorkspaceRequest = request.single().await?;
    let root = agent.config.workspace_dir.clone();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(PIPE_DEPTH_CHUNKS);
    let producer = tokio::task::spawn_blocking(move || {
        let writer = archive::export(&root, ChunkWriter { tx, buf: Vec::with_capacity(EXPORT_CHUNK_BYTES) })?;
        writer.finish()
    });
    while let Some(data) = rx.recv().await {
        sink.send(&ExportWorkspaceResponse { data }).await?;
    }
    producer.await.map_err(|_| AgentError::Internal("export task failed".into()))??;
    Ok(())
}

pub async fn import(agent: &Agent, mut request: RequestStream, _sink: &mut ResponseSink) -> Result<ImportWorkspaceResponse, CallError> {
    let start = match request.message::<ImportWorkspaceRequest>().await? {
        Some(ImportWorkspaceRequest { kind: Some(import_workspace_request::Kind::Start(start)) }) => start,
        _ => return Err(AgentError::invalid("the first ImportWorkspace message must be start").into()),
    };
    let root = agent.config.workspace_dir.clone();
    if start.replace {
        let root = root.clone();
        blocking(move || archive::clear(&root)).await?;
    }
    let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(PIPE_DEPTH_CHUNKS);
    let consumer = tokio::task::spawn_blocking(move || archive::import(&root, ChunkReader { rx, buf: Vec::new(), pos: 0 }));
    let mut feed_error = None;
    loop {
        match request.message::<ImportWorkspaceRequest>().await {
            Ok(Some(ImportWorkspaceRequest { kind: Some(import_workspace_request::Kind::Data(data)) })) => {
                // A closed channel means the import already stopped; its error is the answer.
                if tx.send(Ok(data)).await.is_err() {
                    break;
                }
            }
            Ok(Some(_)) => {
                feed_error = Some(CallError::from(AgentError::invalid("only data may follow the ImportWorkspace start")));
                break;
            }
            Ok(None) => break,
            Err(err) => {
                feed_error = Some(err);
                break;
            }
        }
    }
    if let Some(err) = &feed_error {
        let _ = tx.send(Err(io::Error::new(io::ErrorKind::Other, format!("import aborted: {:?}", err)))).await;
    }
    drop(tx);
    let summary = consumer.await.map_err(|_| AgentError::Internal("import task failed".into()))?;
    if let Some(err) = feed_error {
        return Err(err);
    }
    let summary = summary?;
    Ok(ImportWorkspaceResponse { entries: summary.entries, size_bytes: summary.size_bytes })
}

/// Collects tar output into chunks for the call; fails once the call is gone.
struct ChunkWriter {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(EXPORT_CHUNK_BYTES));
        self.tx.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "export call ended"))
    }

    fn finish(mut self) -> Result<(), AgentError> {
        self.flush_chunk().map_err(|e| AgentError::io("export", e))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(EXPORT_CHUNK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= EXPORT_CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Presents the call's data messages as one byte stream to the tar reader.
struct ChunkReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Some(Err(err)) => return Err(err),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
