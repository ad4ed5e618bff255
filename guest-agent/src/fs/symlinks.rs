//! Where an imported symlink leads once every symlink on its way is followed, as the kernel will
//! follow them. A lexical check is not enough: `a/l1 -> ..` then `l2 -> a/l1/..` looks inside the
//! root letter by letter, yet resolves to the root's parent. Order does not protect either: a
//! symlink created later can redirect one accepted earlier, so every path a resolution walked
//! remembers the links that walked it, and a new symlink there checks them again.
//!
//! The host's package check applies the same rules (teleport's `ArchiveSymlinks`); both run the
//! shared corpus in tests/fixtures/workspace-tars.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// As Linux's MAXSYMLINKS: a longer chain is refused, as the kernel would refuse it (ELOOP).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// The symlinks under one root: those an import created, and those already there (read on first use).
pub struct Symlinks<'a> {
    root: &'a Path,
    targets: HashMap<PathBuf, PathBuf>,
    /// Paths known not to be symlinks on disk before the import touched them.
    plain: HashSet<PathBuf>,
    /// Path → the symlinks whose resolution went through it.
    walked_by: HashMap<PathBuf, HashSet<PathBuf>>,
}

impl<'a> Symlinks<'a> {
    pub fn new(root: &'a Path) -> Symlinks<'a> {
        Symlinks { root, targets: HashMap::new(), plain: HashSet::new(), walked_by: HashMap::new() }
    }

    /// Adds (or replaces) the symlink at `link` (relative to the root) to `target`; returns why
    /// it is refused: its own target, or an earlier link it redirects, leads outside the root.
    pub fn add(&mut self, link: &Path, target: &Path) -> Result<(), String> {
        self.targets.insert(link.to_path_buf(), target.to_path_buf());
        self.plain.remove(link);
        self.check(link)?;
        self.recheck_walkers(link)
    }

    /// A file now stands at `path`: if it replaced a symlink, links that went through it resolve anew.
    pub fn replaced_by_file(&mut self, path: &Path) -> Result<(), String> {
        if self.target_of(path).is_none() {
            return Ok(());
        }
        self.targets.remove(path);
        self.plain.insert(path.to_path_buf());
        self.recheck_walkers(path)
    }

    fn recheck_walkers(&mut self, path: &Path) -> Result<(), String> {
        let walkers = self.walked_by.get(path).cloned().unwrap_or_default();
        for earlier in walkers {
            if earlier.as_path() != path && self.targets.contains_key(&earlier) {
                self.check(&earlier)
                    .map_err(|why| format!("it redirects the earlier symlink {}, which {}", earlier.display(), why))?;
            }
        }
        Ok(())
    }

    /// The symlink's target at `path`, reading the disk for links that were there before.
    fn target_of(&mut self, path: &Path) -> Option<PathBuf> {
        if let Some(target) = self.targets.get(path) {
            return Some(target.clone());
        }
        if self.plain.contains(path) {
            return None;
        }
        let full = self.root.join(path);
        match fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&full).ok()?;
                self.targets.insert(path.to_path_buf(), target.clone());
                Some(target)
            }
            _ => {
                self.plain.insert(path.to_path_buf());
                None
            }
        }
    }

    fn check(&mut self, link: &Path) -> Result<(), String> {
        let target = self.targets.get(link).cloned().expect("checked links are known");
        if target.is_absolute() {
            return Err(format!("points to {} outside the workspace", target.display()));
        }
        let mut resolved: Vec<PathBuf> = link.parent().map(|p| p.iter().map(PathBuf::from).collect()).unwrap_or_default();
        let mut pending: Vec<PathBuf> = components(&target);
        pending.reverse();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part.as_os_str() == ".." {
                if resolved.pop().is_none() {
                    return Err(format!("points to {}, which resolves outside the workspace", target.display()));
                }
                continue;
            }
            resolved.push(part);
            let here: PathBuf = resolved.iter().collect();
            self.walked_by.entry(here.clone()).or_default().insert(link.to_path_buf());
            let next = match self.target_of(&here) {
                Some(next) if here != link => next,
                _ => continue,
            };
            hops += 1;
            if hops > MAX_SYMLINK_HOPS || next.is_absolute() {
                let why = if next.is_absolute() { " outside the workspace" } else { " (too many levels of symlinks)" };
                return Err(format!(
                    "points to {}, which resolves through {} -> {}{}",
                    target.display(),
                    here.display(),
                    next.display(),
                    why
                ));
            }
            resolved.pop();
            let mut expansion = components(&next);
            expansion.reverse();
            pending.extend(expansion);
        }
        Ok(())
    }
}

/// Normal and `..` components; `.` and empty ones dropped.
fn components(path: &Path) -> Vec<PathBuf> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(PathBuf::from(part)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kelpie-symlinks-{}-{}", std::process::id(), rand_suffix()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn a_chain_through_an_earlier_link_is_followed() {
        let root = root();
        let mut links = Symlinks::new(&root);
        assert!(links.add(Path::new("a/l1"), Path::new("..")).is_ok());
        let err = links.add(Path::new("l2"), Path::new("a/l1/..")).unwrap_err();
        assert!(err.contains("resolves outside"), "{}", err);
        assert!(links.add(Path::new("l3"), Path::new("a/l1/a")).is_ok());
    }

    #[test]
    fn a_later_link_cannot_redirect_an_earlier_one() {
        let root = root();
        let mut links = Symlinks::new(&root);
        assert!(links.add(Path::new("l2"), Path::new("a/l1/..")).is_ok());
        let err = links.add(Path::new("a/l1"), Path::new("..")).unwrap_err();
        assert!(err.contains("redirects the earlier symlink l2"), "{}", err);
    }

    #[test]
    fn links_already_on_disk_count() {
        let root = root();
        fs::create_dir_all(root.join("a")).unwrap();
        std::os::unix::fs::symlink("..", root.join("a/up")).unwrap();
        let mut links = Symlinks::new(&root);
        assert!(links.add(Path::new("x"), Path::new("a/up/..")).is_err());
        assert!(links.add(Path::new("y"), Path::new("a/up/a")).is_ok());
    }
}
