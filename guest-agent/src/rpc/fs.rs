//! ReadFile, WriteFile, Stat, ListDir, MakeDir and Remove.

use super::{blocking, Agent};
use crate::error::AgentError;
use crate::fs::{self, Upload, MAX_FILE_CHUNK_BYTES};
use crate::grpc::{CallError, RequestStream, ResponseSink};
use crate::process::users;
use crate::proto::{
    write_file_request, ListDirRequest, ListDirResponse, MakeDirRequest, MakeDirResponse, ReadFileRequest,
    ReadFileResponse, RemoveRequest, RemoveResponse, StatRequest, StatResponse, WriteFileRequest, WriteFileResponse,
};

pub async fn read_file(agent: &Agent, mut request: RequestStream, sink: &mut ResponseSink) -> Result<(), CallError> {
    let req: ReadFileRequest = request.single().await?;
    let path = fs::resolve(&agent.config.workspace_dir, &req.path)?;
    let offset = req.offset_bytes;
    let (mut file, size) = blocking(move || fs::open_for_read(&path, offset)).await?;
    let mut remaining = if req.length_bytes == 0 { u64::MAX } else { req.length_bytes };
    let mut position = offset;
    let mut first = true;
    loop {
        let want = remaining.min(MAX_FILE_CHUNK_BYTES as u64) as usize;
        let (returned, data) = blocking(move || fs::read_chunk(&mut file, want).map(|data| (file, data))).await?;
        file = returned;
        // One message even for an empty file, so the client learns the size.
        if data.is_empty() && !first {
            break;
        }
        let len = data.len() as u64;
        let message = ReadFileResponse { data, offset_bytes: position, file_size_bytes: if first { size } else { 0 } };
        sink.send(&message).await?;
        first = false;
        position += len;
        remaining -= len;
        if len < want as u64 || remaining == 0 {
            break;
        }
    }
    Ok(())
}

pub async fn write_file(agent: &Agent, mut request: RequestStream, _sink: &mut ResponseSink) -> Result<WriteFileResponse, CallError> {
    let start = match request.message::<WriteFileRequest>().await? {
        Some(WriteFileRequest { kind: Some(write_file_request::Kind::Start(start)) }) => start,
        _ => return Err(AgentError::invalid("the first WriteFile message must be start").into()),
    };
    let target = fs::resolve(&agent.config.workspace_dir, &start.path)?;
    let owner = if start.owner.is_empty() {
        None
    } else {
        let user = users::resolve(&start.owner, &agent.config.passwd_path, &agent.config.group_path)?;
        Some((user.uid, user.gid))
    };
    let (expected, parents) = (start.size_bytes, start.create_parents);
    let mut upload = blocking(move || Upload::create(target, expected, parents)).await?;
    while let Some(message) = request.message::<WriteFileRequest>().await? {
        let data = match message.kind {
            Some(write_file_request::Kind::Data(data)) => data,
            _ => return Err(AgentError::invalid("only data may follow the WriteFile start").into()),
        };
        upload = blocking(move || upload.write(&data).map(|_| upload)).await?;
    }
    let (sha256, mode) = (start.sha256, start.mode);
    let (size_bytes, sha256) = blocking(move || upload.commit(&sha256, mode, owner)).await?;
    Ok(WriteFileResponse { size_bytes, sha256 })
}

pub async fn stat(agent: &Agent, req: StatRequest) -> Result<StatResponse, AgentError> {
    let path = fs::resolve(&agent.config.workspace_dir, &req.path)?;
    let info = blocking(move || fs::file_info(path.to_string_lossy().into_owned(), &path)).await?;
    Ok(StatResponse { info: Some(info) })
}

pub async fn list_dir(agent: &Agent, req: ListDirRequest) -> Result<ListDirResponse, AgentError> {
    let path = fs::resolve(&agent.config.workspace_dir, &req.path)?;
    Ok(ListDirResponse { entries: blocking(move || fs::list_dir(&path)).await? })
}

pub async fn make_dir(agent: &Agent, req: MakeDirRequest) -> Result<MakeDirResponse, AgentError> {
    let path = fs::resolve(&agent.config.workspace_dir, &req.path)?;
    blocking(move || fs::make_dir(&path, req.mode, req.parents)).await?;
    Ok(MakeDirResponse {})
}

pub async fn remove(agent: &Agent, req: RemoveRequest) -> Result<RemoveResponse, AgentError> {
    let path = fs::resolve(&agent.config.workspace_dir, &req.path)?;
    blocking(move || fs::remove(&path, req.recursive)).await?;
    Ok(RemoveResponse {})
}
