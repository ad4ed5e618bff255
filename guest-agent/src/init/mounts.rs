//! The mount plan of PID 1, as data: built by pure functions (tested on any host), executed by
//! `execute` (only inside the VM).

use std::io;

use crate::sys;

/// Staging directory for the writable disk and the new root. A tmpfs is mounted there first, so
/// the read-only image only needs the empty directory.
pub const STAGING_DIR: &str = "/mnt";
/// Where the writable disk is mounted while the root is assembled.
pub const DISK_DIR: &str = "/mnt/disk";
/// Where the overlay root is assembled.
pub const NEW_ROOT_DIR: &str = "/mnt/root";
/// Filesystem of the writable disk when the command line does not say.
pub const DEFAULT_DISK_FSTYPE: &str = "ext4";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub flags: libc::c_ulong,
    pub data: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    MakeDir(String),
    Mount(Mount),
    /// Mount the source, or a tmpfs there if that fails (no writable disk: an ephemeral sandbox).
    MountOrTmpfs(Mount),
    /// Move an existing mount (MS_MOVE).
    Move { from: String, to: String },
    /// Make the directory the new `/` (move mount + chroot), as switch_root does.
    SwitchRoot(String),
    /// Grow the ext4 file system of `device`, mounted on `mountpoint`, to fill the device (the
    /// daemon may have made the disk bigger than the image's template). A failure is a problem,
    /// not the end of boot: the file system keeps its size and works.
    GrowFs { device: String, mountpoint: String },
}

/// Growing online needs ext4; other file systems stay as they are.
fn grow_fs(device: &str, mountpoint: &str, fstype: &str) -> Option<Step> {
    if fstype == "ext4" {
        Some(Step::GrowFs { device: device.into(), mountpoint: mountpoint.into() })
    } else {
        None
    }
}

fn mount(source: &str, target: &str, fstype: &str, flags: libc::c_ulong, data: &str) -> Step {
    Step::Mount(Mount { source: source.into(), target: target.into(), fstype: fstype.into(), flags, data: data.into() })
}

const NOSUID_NODEV_NOEXEC: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// Kernel file systems needed before anything else (and to read /proc/cmdline).
pub fn early_steps() -> Vec<Step> {
    vec![
        mount("proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, ""),
        mount("sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC, ""),
        mount("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755"),
    ]
}

/// Root as an overlay: the read-only image below, `upper/` of the writable disk above, and the
/// disk's `workspace/` bound to /workspace.
pub fn overlay_steps(disk: &str, fstype: &str) -> Vec<Step> {
    let upper = format!("{}/upper", DISK_DIR);
    let work = format!("{}/work", DISK_DIR);
    let workspace = format!("{}/workspace", DISK_DIR);
    let mut steps = vec![
        mount("tmpfs", STAGING_DIR, "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, "mode=0755"),
        Step::MakeDir(DISK_DIR.into()),
        Step::MakeDir(NEW_ROOT_DIR.into()),
        Step::MountOrTmpfs(Mount { source: disk.into(), target: DISK_DIR.into(), fstype: fstype.into(), flags: libc::MS_NOATIME, data: String::new() }),
    ];
    steps.extend(grow_fs(disk, DISK_DIR, fstype));
    steps.extend(vec![
        Step::MakeDir(upper.clone()),
        Step::MakeDir(work.clone()),
        Step::MakeDir(workspace.clone()),
        mount("overlay", NEW_ROOT_DIR, "overlay", 0, &format!("lowerdir=/,upperdir={},workdir={}", upper, work)),
        Step::MakeDir(format!("{}/workspace", NEW_ROOT_DIR)),
        mount(&workspace, &format!("{}/workspace", NEW_ROOT_DIR), "", libc::MS_BIND, ""),
        Step::Move { from: "/dev".into(), to: format!("{}/dev", NEW_ROOT_DIR) },
        Step::Move { from: "/proc".into(), to: format!("{}/proc", NEW_ROOT_DIR) },
        Step::Move { from: "/sys".into(), to: format!("{}/sys", NEW_ROOT_DIR) },
        Step::SwitchRoot(NEW_ROOT_DIR.into()),
    ]);
    steps
}

/// Without an overlay the disk (if any) becomes /workspace directly.
pub fn plain_workspace_steps(disk: Option<&str>, fstype: &str) -> Vec<Step> {
    let mut steps = vec![Step::MakeDir("/workspace".into())];
    if let Some(disk) = disk {
        steps.push(mount(disk, "/workspace", fstype, libc::MS_NOATIME, ""));
        steps.extend(grow_fs(disk, "/workspace", fstype));
    }
    steps
}

/// Everything mounted inside the final root.
pub fn late_steps() -> Vec<Step> {
    vec![
        Step::MakeDir("/dev/pts".into()),
        mount("devpts", "/dev/pts", "devpts", libc::MS_NOSUID | libc::MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"),
        Step::MakeDir("/dev/shm".into()),
        mount("tmpfs", "/dev/shm", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, "mode=1777"),
        mount("tmpfs", "/tmp", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, "mode=1777"),
        mount("tmpfs", "/run", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, "mode=0755"),
        Step::MakeDir("/run/kelpie".into()),
        mount("cgroup2", "/sys/fs/cgroup", "cgroup2", NOSUID_NODEV_NOEXEC, "nsdelegate"),
    ]
}

/// Runs the steps. Failures are logged and skipped: as PID 1, giving up would panic the kernel,
/// and an agent with a partial system can still report what went wrong.
pub fn execute(steps: &[Step]) -> Vec<String> {
    let mut problems = Vec::new();
    for step in steps {
        if let Err(err) = execute_one(step) {
            problems.push(format!("{:?}: {}", step, err));
        }
    }
    problems
}

fn execute_one(step: &Step) -> io::Result<()> {
    match step {
        Step::MakeDir(path) => std::fs::create_dir_all(path),
        Step::Mount(m) => mount_ignoring_busy(m),
        Step::MountOrTmpfs(m) => mount_ignoring_busy(m).or_else(|err| {
            crate::log!("mounting {} on {} failed ({}); using a tmpfs: nothing will persist", m.source, m.target, err);
            sys::mount("tmpfs", &m.target, "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, "mode=0755")
        }),
        Step::Move { from, to } => {
            std::fs::create_dir_all(to)?;
            sys::mount(from, to, "", libc::MS_MOVE, "")
        }
        Step::SwitchRoot(dir) => {
            std::env::set_current_dir(dir)?;
            sys::mount(".", "/", "", libc::MS_MOVE, "")?;
            sys::chroot(".")?;
            std::env::set_current_dir("/")
        }
        Step::GrowFs { device, mountpoint } => super::disk_growth::grow(device, mountpoint),
    }
}

fn mount_ignoring_busy(m: &Mount) -> io::Result<()> {
    match sys::mount(&m.source, &m.target, &m.fstype, m.flags, &m.data) {
        // Already mounted (e.g. devtmpfs by the kernel): fine.
        Err(err) if err.raw_os_error() == Some(libc::EBUSY) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(steps: &[Step], wanted: impl Fn(&Step) -> bool) -> usize {
        steps.iter().position(wanted).expect("step present")
    }

    #[test]
    fn overlay_plan_order_and_options() {
        let steps = overlay_steps("/dev/vdb", "ext4");
        let disk = position(&steps, |s| matches!(s, Step::MountOrTmpfs(m) if m.source == "/dev/vdb" && m.target == DISK_DIR));
        let overlay = position(&steps, |s| matches!(s, Step::Mount(m) if m.fstype == "overlay"));
        let bind = position(&steps, |s| matches!(s, Step::Mount(m) if m.flags == libc::MS_BIND));
        let switch = position(&steps, |s| matches!(s, Step::SwitchRoot(_)));
        assert!(disk < overlay && overlay < bind && bind < switch);
        assert_eq!(switch, steps.len() - 1);
        match &steps[overlay] {
            Step::Mount(m) => assert_eq!(m.data, "lowerdir=/,upperdir=/mnt/disk/upper,workdir=/mnt/disk/work"),
            _ => unreachable!(),
        }
        for fs in ["/dev", "/proc", "/sys"] {
            let moved = position(&steps, |s| matches!(s, Step::Move { from, .. } if from == fs));
            assert!(moved < switch);
        }
    }

    #[test]
    fn an_ext4_disk_is_grown_after_its_mount_and_before_the_overlay_uses_it() {
        let steps = overlay_steps("/dev/vdb", "ext4");
        let disk = position(&steps, |s| matches!(s, Step::MountOrTmpfs(m) if m.target == DISK_DIR));
        let grow = position(&steps, |s| matches!(s, Step::GrowFs { device, mountpoint } if device == "/dev/vdb" && mountpoint == DISK_DIR));
        let overlay = position(&steps, |s| matches!(s, Step::Mount(m) if m.fstype == "overlay"));
        assert!(disk < grow && grow < overlay);

        let plain = plain_workspace_steps(Some("/dev/vdb"), "ext4");
        assert_eq!(plain.last(), Some(&Step::GrowFs { device: "/dev/vdb".into(), mountpoint: "/workspace".into() }));
    }

    #[test]
    fn other_file_systems_are_not_grown() {
        assert!(!overlay_steps("/dev/vdb", "xfs").iter().any(|s| matches!(s, Step::GrowFs { .. })));
        assert!(!plain_workspace_steps(Some("/dev/vdb"), "btrfs").iter().any(|s| matches!(s, Step::GrowFs { .. })));
        assert!(!plain_workspace_steps(None, "ext4").iter().any(|s| matches!(s, Step::GrowFs { .. })));
    }

    #[test]
    fn late_plan_has_cgroup_and_pts() {
        let steps = late_steps();
        assert!(steps.iter().any(|s| matches!(s, Step::Mount(m) if m.fstype == "cgroup2" && m.target == "/sys/fs/cgroup")));
        let mkdir = position(&steps, |s| matches!(s, Step::MakeDir(p) if p == "/dev/pts"));
        let pts = position(&steps, |s| matches!(s, Step::Mount(m) if m.fstype == "devpts"));
        assert!(mkdir < pts);
    }
}
