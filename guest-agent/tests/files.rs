//! Files and workspace tar over gRPC against the agent binary.

mod common;

use common::*;
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{:02x}", b)).collect()
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

async fn write_file(client: &mut Client, path: &str, data: &[u8], sha256: &str) -> Result<proto::WriteFileResponse, Status> {
    let mut call = client.call("WriteFile").await;
    call.send(&proto::WriteFileRequest {
        kind: Some(proto::write_file_request::Kind::Start(proto::WriteFileStart {
            path: path.into(),
            mode: 0o640,
            size_bytes: data.len() as u64,
            sha256: sha256.into(),
            create_parents: true,
            owner: String::new(),
        })),
    });
    for chunk in data.chunks(1024 * 1024) {
        call.send(&proto::WriteFileRequest { kind: Some(proto::write_file_request::Kind::Data(chunk.to_vec())) });
    }
    call.close_send();
    let response = call.message::<proto::WriteFileResponse>().await?.expect("response");
    assert_eq!(call.message::<proto::WriteFileResponse>().await, Ok(None));
    Ok(response)
}

async fn read_file(client: &mut Client, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, Status> {
    let mut call = client.call("ReadFile").await;
    call.send(&proto::ReadFileRequest { path: path.into(), offset_bytes: offset, length_bytes: length });
    call.close_send();
    let mut data = Vec::new();
    while let Some(chunk) = call.message::<proto::ReadFileResponse>().await? {
        assert!(chunk.data.len() <= 1024 * 1024);
        assert_eq!(chunk.offset_bytes, offset + data.len() as u64);
        data.extend_from_slice(&chunk.data);
    }
    Ok(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_round_trip_with_sha256() {
    let agent = AgentProcess::start("files", &[]).await;
    let mut client = agent.client().await;
    let data = pseudo_random(3 * 1024 * 1024 + 17);
    let digest = hex(&Sha256::digest(&data));
    let written = within(WAIT, write_file(&mut client, "dir/sub/blob.bin", &data, &digest)).await.unwrap();
    assert_eq!(written.size_bytes, data.len() as u64);
    assert_eq!(written.sha256, digest);
    assert_eq!(within(WAIT, read_file(&mut client, "dir/sub/blob.bin", 0, 0)).await.unwrap(), data);
    let absolute = agent.workspace.join("dir/sub/blob.bin");
    let part = within(WAIT, read_file(&mut client, absolute.to_str().unwrap(), 1_000_000, 2_000_000)).await.unwrap();
    assert_eq!(part, &data[1_000_000..3_000_000]);

    let stat: proto::StatResponse = client.unary("Stat", &proto::StatRequest { path: "dir/sub/blob.bin".into() }).await.unwrap();
    let info = stat.info.unwrap();
    assert_eq!((info.size_bytes, info.mode, info.r#type), (data.len() as u64, 0o640, proto::FileType::Regular as i32));

    let listing: proto::ListDirResponse = client.unary("ListDir", &proto::ListDirRequest { path: "dir/sub".into() }).await.unwrap();
    let names: Vec<_> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["blob.bin"], "no temporary file left behind");

    // A wrong digest fails and leaves the old content and no temporary file.
    let status = within(WAIT, write_file(&mut client, "dir/sub/blob.bin", b"other", &"0".repeat(64))).await.unwrap_err();
    assert_eq!(status.code, code::INVALID_ARGUMENT);
    assert_eq!(std::fs::read(&absolute).unwrap(), data);
    assert_eq!(std::fs::read_dir(absolute.parent().unwrap()).unwrap().count(), 1);
}

#[tokio::test]
async fn typed_file_errors_and_directories() {
    let agent = AgentProcess::start("fserrors", &[]).await;
    let mut client = agent.client().await;
    let status = read_file(&mut client, "missing.txt", 0, 0).await.unwrap_err();
    assert_eq!(status.code, code::NOT_FOUND);
    let status = client.unary::<_, proto::StatResponse>("Stat", &proto::StatRequest { path: "".into() }).await.unwrap_err();
    assert_eq!(status.code, code::INVALID_ARGUMENT);

    let mkdir = |path: &str, parents: bool| proto::MakeDirRequest { path: path.into(), mode: 0o700, parents };
    client.unary::<_, proto::MakeDirResponse>("MakeDir", &mkdir("a/b/c", true)).await.unwrap();
    let status = client.unary::<_, proto::MakeDirResponse>("MakeDir", &mkdir("a", false)).await.unwrap_err();
    assert_eq!(status.code, code::ALREADY_EXISTS);
    let status = client.unary::<_, proto::RemoveResponse>("Remove", &proto::RemoveRequest { path: "a".into(), recursive: false }).await.unwrap_err();
    assert_eq!(status.code, code::FAILED_PRECONDITION);
    client.unary::<_, proto::RemoveResponse>("Remove", &proto::RemoveRequest { path: "a".into(), recursive: true }).await.unwrap();
    assert!(!agent.workspace.join("a").exists());
    let status = client.unary::<_, proto::RemoveResponse>("Remove", &proto::RemoveRequest { path: "a".into(), recursive: true }).await.unwrap_err();
    assert_eq!(status.code, code::NOT_FOUND);
}

async fn export(client: &mut Client) -> Vec<u8> {
    let mut call = client.call("ExportWorkspace").await;
    call.send(&proto::ExportWorkspaceRequest {});
    call.close_send();
    let mut tar = Vec::new();
    while let Some(chunk) = call.message::<proto::ExportWorkspaceResponse>().await.unwrap() {
        tar.extend_from_slice(&chunk.data);
    }
    tar
}

async fn import(client: &mut Client, tar: &[u8], replace: bool) -> Result<proto::ImportWorkspaceResponse, Status> {
    let mut call = client.call("ImportWorkspace").await;
    call.send(&proto::ImportWorkspaceRequest { kind: Some(proto::import_workspace_request::Kind::Start(proto::ImportWorkspaceStart { replace })) });
    for chunk in tar.chunks(100_000) {
        call.send(&proto::ImportWorkspaceRequest { kind: Some(proto::import_workspace_request::Kind::Data(chunk.to_vec())) });
    }
    call.close_send();
    let response = call.message::<proto::ImportWorkspaceResponse>().await?.expect("response");
    Ok(response)
}

#[tokio::test]
async fn workspace_export_import_round_trip() {
    let agent = AgentProcess::start("tar", &[]).await;
    let mut client = agent.client().await;
    let ws = &agent.workspace;
    std::fs::create_dir_all(ws.join("src/deep")).unwrap();
    std::fs::write(ws.join("src/deep/main.rs"), b"fn main() {}\n").unwrap();
    std::fs::write(ws.join("big.bin"), pseudo_random(2_500_000)).unwrap();
    std::os::unix::fs::symlink("src/deep/main.rs", ws.join("link")).unwrap();
    let tar = within(WAIT, export(&mut client)).await;

    std::fs::write(ws.join("stale.txt"), b"gone after replace").unwrap();
    let summary = within(WAIT, import(&mut client, &tar, true)).await.unwrap();
    assert_eq!(summary.entries, 5);
    assert_eq!(summary.size_bytes, 2_500_000 + 13);
    assert!(!ws.join("stale.txt").exists());
    assert_eq!(std::fs::read(ws.join("src/deep/main.rs")).unwrap(), b"fn main() {}\n");
    assert_eq!(std::fs::read(ws.join("big.bin")).unwrap(), pseudo_random(2_500_000));
    assert_eq!(std::fs::read_link(ws.join("link")).unwrap(), std::path::PathBuf::from("src/deep/main.rs"));
}

/// A tar with one entry whose header is written by hand, so hostile names get through.
fn hostile_tar(name: &str, kind: tar::EntryType, link: &str, content: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    {
        let raw = header.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(content.len() as u64);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(content);
    out.resize((out.len() + 511) / 512 * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[tokio::test]
async fn hostile_tar_entries_are_rejected_and_write_nothing_outside() {
    let agent = AgentProcess::start("hostile", &[]).await;
    let mut client = agent.client().await;
    let outside = agent.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let outside_abs = outside.join("abs.txt");
    // A link a user process left in the workspace, pointing outside.
    std::os::unix::fs::symlink(&outside, agent.workspace.join("escape")).unwrap();
    let cases = vec![
        ("parent", hostile_tar("../outside/evil.txt", tar::EntryType::Regular, "", b"evil")),
        ("absolute", hostile_tar(outside_abs.to_str().unwrap(), tar::EntryType::Regular, "", b"evil")),
        ("device", hostile_tar("dev-null", tar::EntryType::Char, "", b"")),
        ("fifo", hostile_tar("fifo", tar::EntryType::Fifo, "", b"")),
        ("symlink-out", hostile_tar("link", tar::EntryType::Symlink, "../../outside", b"")),
        ("symlink-abs", hostile_tar("link2", tar::EntryType::Symlink, "/etc", b"")),
        ("hardlink-out", hostile_tar("hard", tar::EntryType::Link, "../outside/x", b"")),
        ("through-link", hostile_tar("escape/evil.txt", tar::EntryType::Regular, "", b"evil")),
    ];
    for (what, tar) in cases {
        let status = within(WAIT, import(&mut client, &tar, false)).await.unwrap_err();
        assert_eq!(status.code, code::INVALID_ARGUMENT, "{}: {:?}", what, status);
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{} wrote outside", what);
    }
    let mut left: Vec<_> = std::fs::read_dir(&agent.workspace).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, vec![std::ffi::OsString::from("escape")]);
    // Garbage is a malformed tar, not a crash.
    let status = within(WAIT, import(&mut client, &[7u8; 1500], false)).await.unwrap_err();
    assert_eq!(status.code, code::INVALID_ARGUMENT);
}
