//! Workspace tar export and a defensive import that writes nothing outside the workspace.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::symlinks::Symlinks;
use crate::error::{AgentError, AgentResult};
use crate::sys;

/// Tar bytes per ExportWorkspace message.
pub const EXPORT_CHUNK_BYTES: usize = 1024 * 1024;

/// Writes an uncompressed tar of `root`'s contents (paths relative to it) to `out`. Sockets and
/// device nodes are skipped; symlinks are stored as links, never followed.
pub fn export<W: Write>(root: &Path, out: W) -> AgentResult<W> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Complete);
    append_tree(&mut builder, root, Path::new(""))?;
    builder.into_inner().map_err(|e| AgentError::io("finishing tar", e))
}

fn append_tree<W: Write>(builder: &mut tar::Builder<W>, root: &Path, rel: &Path) -> AgentResult<()> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| AgentError::io(format!("list {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let rel_path = rel.join(&name);
        let full = root.join(&rel_path);
        let kind = match fs::symlink_metadata(&full) {
            Ok(meta) => meta.file_type(),
            Err(_) => continue, // removed while exporting
        };
        if kind.is_socket() || kind.is_fifo() || kind.is_block_device() || kind.is_char_device() {
            continue;
        }
        builder
            .append_path_with_name(&full, &rel_path)
            .map_err(|e| AgentError::io(format!("archiving {}", rel_path.display()), e))?;
        if kind.is_dir() {
            append_tree(builder, root, &rel_path)?;
        }
    }
    Ok(())
}

/// What an import wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub entries: u64,
    pub size_bytes: u64,
}

/// Removes everything inside `root`, keeping `root` itself.
pub fn clear(root: &Path) -> AgentResult<()> {
    for entry in fs::read_dir(root).map_err(|e| AgentError::io(format!("list {}", root.display()), e))? {
        let path = entry.map_err(|e| AgentError::io("list", e))?.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| AgentError::io("stat", e))?;
        let result = if meta.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        result.map_err(|e| AgentError::io(format!("remove {}", path.display()), e))?;
    }
    Ok(())
}

/// Unpacks a tar into `root`. Absolute paths, `..`, device nodes and FIFOs, links pointing
/// outside, and paths through an existing symlink are rejected; the import stops at the first
/// such entry, having written only inside `root`.
pub fn import<R: Read>(root: &Path, input: R) -> AgentResult<ImportSummary> {
    let mut archive = tar::Archive::new(input);
    let mut summary = ImportSummary::default();
    let mut symlinks = Symlinks::new(root);
    let entries = archive.entries().map_err(|e| AgentError::io("reading tar", e))?;
    for entry in entries {
        let mut entry = entry.map_err(tar_error)?;
        let raw_path = entry.path().map_err(tar_error)?.into_owned();
        let rel = match safe_relative(&raw_path)? {
            Some(rel) => rel,
            None => continue, // the archive's root directory itself
        };
        let kind = entry.header().entry_type();
        let dest = root.join(&rel);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let owner = (entry.header().uid().ok(), entry.header().gid().ok());
        make_parents(root, &rel)?;
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&dest) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => return Err(reject(&rel, "a directory entry over an existing non-directory")),
                    Err(_) => fs::DirBuilder::new().mode(0o700).create(&dest).map_err(|e| AgentError::io(format!("mkdir {}", rel.display()), e))?,
                }
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(|e| AgentError::io("chmod", e))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                replace_non_dir(&dest, &rel)?;
                symlinks.replaced_by_file(&rel).map_err(|why| reject(&rel, &format!("a file in place of a symlink: {}", why)))?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&dest)
                    .map_err(|e| AgentError::io(format!("create {}", rel.display()), e))?;
                summary.size_bytes += io::copy(&mut entry, &mut file).map_err(|e| AgentError::io(format!("write {}", rel.display()), e))?;
                file.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| AgentError::io("chmod", e))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(tar_error)?.ok_or_else(|| reject(&rel, "a symlink without target"))?;
                symlinks.add(&rel, &target).map_err(|why| reject(&rel, &format!("a symlink that {}", why)))?;
                replace_non_dir(&dest, &rel)?;
                std::os::unix::fs::symlink(&target, &dest).map_err(|e| AgentError::io(format!("symlink {}", rel.display()), e))?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name().map_err(tar_error)?.ok_or_else(|| reject(&rel, "a hard link without target"))?;
                let target_rel = safe_relative(&target)?.ok_or_else(|| reject(&rel, "a hard link to the workspace root"))?;
                check_no_symlink_parents(root, &target_rel)?;
                if !fs::symlink_metadata(root.join(&target_rel)).map(|m| m.is_file()).unwrap_or(false) {
                    return Err(reject(&rel, &format!("a hard link to {}, which is not an earlier file of the archive", target.display())));
                }
                replace_non_dir(&dest, &rel)?;
                symlinks.replaced_by_file(&rel).map_err(|why| reject(&rel, &format!("a file in place of a symlink: {}", why)))?;
                fs::hard_link(root.join(&target_rel), &dest).map_err(|e| AgentError::io(format!("link {}", rel.display()), e))?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            other => return Err(reject(&rel, &format!("an unsupported entry type {:?}", other))),
        }
        if let (Some(uid), Some(gid)) = owner {
            // Ownership is best effort: an unprivileged agent (tests) cannot chown.
            let _ = sys::lchown(&dest, uid as u32, gid as u32);
        }
        summary.entries += 1;
    }
    Ok(summary)
}

fn tar_error(err: io::Error) -> AgentError {
    AgentError::InvalidArgument(format!("malformed tar: {}", err))
}

fn reject(rel: &Path, why: &str) -> AgentError {
    AgentError::InvalidArgument(format!("tar entry {} rejected: {}", rel.display(), why))
}

/// A path relative to the workspace with only normal components, `None` for the root itself.
pub fn safe_relative(path: &Path) -> AgentResult<Option<PathBuf>> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(AgentError::InvalidArgument(format!("tar entry {} rejected: absolute or contains ..", path.display())));
            }
        }
    }
    Ok(if out.as_os_str().is_empty() { None } else { Some(out) })
}

/// Creates missing parent directories of `rel`, refusing to pass through a symlink (which could
/// lead anywhere, including outside the root).
fn make_parents(root: &Path, rel: &Path) -> AgentResult<()> {
    let mut current = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for part in parent.iter() {
            current.push(part);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => return Err(reject(rel, "its path goes through a symlink")),
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(reject(rel, "its parent is not a directory")),
                Err(_) => fs::DirBuilder::new().mode(0o755).create(&current).map_err(|e| AgentError::io(format!("mkdir {}", current.display()), e))?,
            }
        }
    }
    Ok(())
}

fn check_no_symlink_parents(root: &Path, rel: &Path) -> AgentResult<()> {
    let mut current = root.to_path_buf();
    for part in rel.iter() {
        current.push(part);
        if let Ok(meta) = fs::symlink_metadata(&current) {
            if meta.file_type().is_symlink() {
                return Err(reject(rel, "a hard link through or to a symlink"));
            }
        }
    }
    Ok(())
}

/// Removes an existing file or link at `dest` (never following it); refuses to replace a directory.
fn replace_non_dir(dest: &Path, rel: &Path) -> AgentResult<()> {
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => Err(reject(rel, "it would replace a directory")),
        Ok(_) => fs::remove_file(dest).map_err(|e| AgentError::io(format!("replace {}", rel.display()), e)),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(safe_relative(Path::new("./a/b")).unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(safe_relative(Path::new(".")).unwrap(), None);
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert!(safe_relative(Path::new("a/../../x")).is_err());
    }

    /// The corpus shared with the host's package check (teleport's WorkspaceTarCheck).
    fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace-tars").join(kind);
        let mut tars: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().map(|e| e == "tar").unwrap_or(false))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
            .collect();
        tars.sort();
        assert!(!tars.is_empty(), "no corpus in {}", dir.display());
        tars
    }

    #[test]
    fn the_shared_corpus_is_judged_as_the_host_judges_it() {
        let base = std::env::temp_dir().join(format!("kelpie-corpus-{}", std::process::id()));
        for (name, tar) in corpus("hostile") {
            let root = base.join(&name).join("workspace");
            fs::create_dir_all(&root).unwrap();
            match import(&root, &tar[..]) {
                Err(AgentError::InvalidArgument(why)) => assert!(why.contains("rejected"), "{}: {}", name, why),
                other => panic!("{} must be refused as invalid, got {:?}", name, other),
            }
            let beside: Vec<_> = fs::read_dir(base.join(&name)).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(beside, vec![std::ffi::OsString::from("workspace")], "{} wrote outside the workspace", name);
        }
        for (name, tar) in corpus("accepted") {
            let root = base.join(&name).join("workspace");
            fs::create_dir_all(&root).unwrap();
            import(&root, &tar[..]).unwrap_or_else(|e| panic!("{} must be accepted: {:?}", name, e));
        }
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn link_targets() {
        let root = std::env::temp_dir().join(format!("kelpie-archive-links-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        let mut links = Symlinks::new(&root);
        assert!(links.add(Path::new("a/l"), Path::new("../b")).is_ok());
        assert!(links.add(Path::new("a/m"), Path::new("./c/../d")).is_ok());
        assert!(links.add(Path::new("a/n"), Path::new("../../x")).is_err());
        assert!(links.add(Path::new("o"), Path::new("..")).is_err());
        assert!(links.add(Path::new("p"), Path::new("/etc")).is_err());
        fs::remove_dir_all(&root).unwrap();
    }
}
