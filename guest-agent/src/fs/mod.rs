//! File operations behind ReadFile, WriteFile, Stat, ListDir, MakeDir and Remove. All blocking;
//! the rpc layer runs them on tokio's blocking pool.

pub mod archive;
pub mod symlinks;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{AgentError, AgentResult};
use crate::proto::{FileInfo, FileType};
use crate::sys;

/// Largest ReadFile chunk, in bytes.
pub const MAX_FILE_CHUNK_BYTES: usize = 1024 * 1024;
/// Mode of files written without one.
pub const DEFAULT_FILE_MODE: u32 = 0o644;
/// Mode of directories made without one.
pub const DEFAULT_DIR_MODE: u32 = 0o755;

/// Resolves a request path: absolute as given, relative to the workspace otherwise.
pub fn resolve(workspace: &Path, path: &str) -> AgentResult<PathBuf> {
    if path.is_empty() {
        return Err(AgentError::invalid("path is empty"));
    }
    if path.contains('\0') {
        return Err(AgentError::invalid("path contains a NUL byte"));
    }
    let path = Path::new(path);
    Ok(if path.is_absolute() { path.to_path_buf() } else { workspace.join(path) })
}

fn io_err(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> AgentError {
    let context = format!("{} {}", what, path.display());
    move |err| AgentError::io(context, err)
}

pub fn file_info(name: String, path: &Path) -> AgentResult<FileInfo> {
    let meta = fs::symlink_metadata(path).map_err(io_err("stat", path))?;
    let kind = meta.file_type();
    let file_type = if kind.is_file() {
        FileType::Regular
    } else if kind.is_dir() {
        FileType::Directory
    } else if kind.is_symlink() {
        FileType::Symlink
    } else {
        FileType::Other
    };
    let link_target = if kind.is_symlink() {
        fs::read_link(path).map(|t| t.to_string_lossy().into_owned()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(FileInfo {
        name,
        r#type: file_type as i32,
        size_bytes: meta.len(),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        modified_unix_ms: meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000,
        link_target,
    })
}

pub fn list_dir(path: &Path) -> AgentResult<Vec<FileInfo>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(path).map_err(io_err("list", path))? {
        let entry = entry.map_err(io_err("list", path))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match file_info(name, &entry.path()) {
            Ok(info) => entries.push(info),
            // Deleted while we listed: not an error of the listing.
            Err(err) if err.code() == crate::grpc::Code::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

pub fn make_dir(path: &Path, mode: u32, parents: bool) -> AgentResult<()> {
    let mode = if mode == 0 { DEFAULT_DIR_MODE } else { mode & 0o7777 };
    let mut builder = fs::DirBuilder::new();
    builder.mode(mode).recursive(parents);
    builder.create(path).map_err(io_err("mkdir", path))?;
    if parents && !path.is_dir() {
        return Err(AgentError::io(format!("mkdir {}", path.display()), std::io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    Ok(())
}

pub fn remove(path: &Path, recursive: bool) -> AgentResult<()> {
    let meta = fs::symlink_metadata(path).map_err(io_err("remove", path))?;
    let result = if meta.is_dir() {
        if recursive {
            fs::remove_dir_all(path)
        } else {
            fs::remove_dir(path)
        }
    } else {
        fs::remove_file(path)
    };
    result.map_err(io_err("remove", path))
}

/// Opens a file for ReadFile at `offset`; returns it with the file's size.
pub fn open_for_read(path: &Path, offset: u64) -> AgentResult<(File, u64)> {
    let mut file = File::open(path).map_err(io_err("open", path))?;
    let meta = file.metadata().map_err(io_err("stat", path))?;
    if meta.is_dir() {
        return Err(AgentError::io(format!("read {}", path.display()), std::io::Error::from_raw_os_error(libc::EISDIR)));
    }
    file.seek(SeekFrom::Start(offset)).map_err(io_err("seek", path))?;
    Ok((file, meta.len()))
}

/// Reads up to `max` bytes (fewer only at end of file).
pub fn read_chunk(file: &mut File, max: usize) -> AgentResult<Vec<u8>> {
    let mut buf = vec![0u8; max];
    let mut filled = 0;
    while filled < max {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(AgentError::io("read", err)),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// An upload in progress: a temporary file next to the target, removed unless committed.
pub struct Upload {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    written_bytes: u64,
    expected_bytes: u64,
}

impl Upload {
    pub fn create(target: PathBuf, expected_bytes: u64, create_parents: bool) -> AgentResult<Upload> {
        let name = target.file_name().ok_or_else(|| AgentError::invalid(format!("{} names no file", target.display())))?;
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
        if create_parents {
            fs::create_dir_all(&dir).map_err(io_err("mkdir", &dir))?;
        }
        if target.is_dir() {
            return Err(AgentError::io(format!("write {}", target.display()), std::io::Error::from_raw_os_error(libc::EISDIR)));
        }
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(".{}.kelpie-upload-{}-{}", name.to_string_lossy(), std::process::id(), unique()));
            match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp) {
                Ok(file) => {
                    return Ok(Upload { target, temp, file: Some(file), hasher: Sha256::new(), written_bytes: 0, expected_bytes })
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
                Err(err) => return Err(io_err("create", &temp)(err)),
            }
        }
    }

    pub fn write(&mut self, data: &[u8]) -> AgentResult<()> {
        if self.written_bytes + data.len() as u64 > self.expected_bytes {
            return Err(AgentError::invalid(format!("more data than the announced {} bytes", self.expected_bytes)));
        }
        let file = self.file.as_mut().ok_or_else(|| AgentError::Internal("upload already committed".into()))?;
        file.write_all(data).map_err(io_err("write", &self.temp))?;
        self.hasher.update(data);
        self.written_bytes += data.len() as u64;
        Ok(())
    }

    /// Checks size and digest, syncs, applies mode and owner, and renames into place.
    pub fn commit(mut self, expected_sha256: &str, mode: u32, owner: Option<(u32, u32)>) -> AgentResult<(u64, String)> {
        if self.written_bytes != self.expected_bytes {
            return Err(AgentError::invalid(format!("got {} bytes, expected {}", self.written_bytes, self.expected_bytes)));
        }
        let digest = hex(&self.hasher.clone().finalize());
        if !expected_sha256.is_empty() && !expected_sha256.eq_ignore_ascii_case(&digest) {
            return Err(AgentError::invalid(format!("sha256 mismatch: got {}, expected {}", digest, expected_sha256)));
        }
        let file = self.file.take().ok_or_else(|| AgentError::Internal("upload already committed".into()))?;
        let mode = if mode == 0 { DEFAULT_FILE_MODE } else { mode & 0o7777 };
        file.set_permissions(fs::Permissions::from_mode(mode)).map_err(io_err("chmod", &self.temp))?;
        if let Some((uid, gid)) = owner {
            sys::lchown(&self.temp, uid, gid).map_err(io_err("chown", &self.temp))?;
        }
        file.sync_all().map_err(io_err("fsync", &self.temp))?;
        drop(file);
        fs::rename(&self.temp, &self.target).map_err(io_err("rename", &self.target))?;
        if let Some(dir) = self.target.parent() {
            // The rename is durable only once the directory is.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        self.temp = PathBuf::new();
        Ok((self.written_bytes, digest))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{:02x}", b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kelpie-fs-{}-{}", name, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn resolve_relative_to_workspace() {
        let ws = Path::new("/workspace");
        assert_eq!(resolve(ws, "a/b").unwrap(), PathBuf::from("/workspace/a/b"));
        assert_eq!(resolve(ws, "/etc/x").unwrap(), PathBuf::from("/etc/x"));
        assert!(resolve(ws, "").is_err());
        assert!(resolve(ws, "a\0b").is_err());
    }

    #[test]
    fn failed_upload_leaves_nothing() {
        let dir = temp_dir("upload");
        let target = dir.join("f");
        let mut upload = Upload::create(target.clone(), 3, false).unwrap();
        upload.write(b"abc").unwrap();
        assert!(upload.commit("00", 0, None).is_err());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let mut upload = Upload::create(target.clone(), 2, false).unwrap();
        assert!(upload.write(b"abc").is_err());
        drop(upload);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
