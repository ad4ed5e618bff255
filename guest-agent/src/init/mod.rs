//! PID 1 duties: mounts and the overlay root, cgroups, the agent's own OOM protection, reaping
//! (see `process::reaper`) and power-off. Pure planning lives in `mounts` and `cmdline`.

pub mod cmdline;
pub mod disk_growth;
pub mod mounts;
pub mod network;

use std::path::{Path, PathBuf};

use crate::config::AgentConfig;
use crate::sys;
use crate::transport::{ListenAddr, DEFAULT_SERIAL_PATH, DEFAULT_VSOCK_PORT};

/// Default writable disk of a sandbox.
pub const DEFAULT_DISK: &str = "/dev/vdb";
/// cgroup v2 directory for user processes, when the agent set up cgroups itself.
pub const USER_CGROUP_DIR: &str = "/sys/fs/cgroup/kelpie-user";
/// Hostname until Configure sets one.
pub const DEFAULT_HOSTNAME: &str = "kelpie";
/// The agent itself is the last thing the OOM killer may take.
const AGENT_OOM_SCORE_ADJ: &str = "-1000";

/// Whether to act as init: asked for, or we are PID 1.
pub fn wanted(config: &AgentConfig) -> bool {
    config.init || sys::getpid() == 1
}

/// Prepares the machine and completes the config (listeners, cgroup). Never fails: problems are
/// logged, since exiting as PID 1 would panic the kernel.
pub fn boot(mut config: AgentConfig) -> AgentConfig {
    config.init = true;
    config.system_control = true;
    for problem in mounts::execute(&mounts::early_steps()) {
        crate::log!("init: {}", problem);
    }
    let (options, problems) = cmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    for problem in problems {
        crate::log!("init: kernel command line: {}", problem);
    }
    let disk = options.disk.clone().or_else(|| Some(DEFAULT_DISK.to_string()).filter(|d| Path::new(d).exists()));
    let fstype = options.disk_fstype.clone().unwrap_or_else(|| mounts::DEFAULT_DISK_FSTYPE.to_string());
    let root_steps = match (&disk, options.no_overlay) {
        (Some(disk), false) => mounts::overlay_steps(disk, &fstype),
        (disk, _) => mounts::plain_workspace_steps(disk.as_deref(), &fstype),
    };
    let mut steps = root_steps;
    steps.extend(mounts::late_steps());
    for problem in mounts::execute(&steps) {
        crate::log!("init: {}", problem);
    }
    let _ = std::fs::create_dir_all(&config.workspace_dir);
    if let Err(err) = sys::sethostname(DEFAULT_HOSTNAME) {
        crate::log!("init: sethostname: {}", err);
    }
    if let Err(err) = std::fs::write("/proc/self/oom_score_adj", AGENT_OOM_SCORE_ADJ) {
        crate::log!("init: oom_score_adj: {}", err);
    }
    if config.user_cgroup.is_none() {
        config.user_cgroup = setup_user_cgroup(Path::new("/sys/fs/cgroup"));
    }
    if let Some(stand_in) = &options.vsock_stand_in {
        if let Err(err) = crate::relay::prepare_stand_in(stand_in) {
            crate::log!("init: eth0 for the vsock stand-in: {}", err);
        }
    }
    config.vsock_stand_in = options.vsock_stand_in.clone();
    if config.listen.is_empty() {
        config.listen = if options.listen.is_empty() { default_listeners() } else { options.listen };
    }
    config
}

/// Both channels: libkrun maps vsock, QEMU the serial port. The serial listener waits for its port,
/// which appears some time after boot (or never, under libkrun) without costing anything meanwhile.
pub fn default_listeners() -> Vec<ListenAddr> {
    vec![ListenAddr::Vsock(DEFAULT_VSOCK_PORT), ListenAddr::Serial(PathBuf::from(DEFAULT_SERIAL_PATH))]
}

/// Creates the user cgroup with memory and pids controllers. The agent stays in the root cgroup,
/// which the no-internal-processes rule exempts.
fn setup_user_cgroup(root: &Path) -> Option<PathBuf> {
    if let Err(err) = std::fs::write(root.join("cgroup.subtree_control"), "+memory +pids +cpu") {
        crate::log!("init: enabling cgroup controllers: {}", err);
    }
    let dir = root.join(USER_CGROUP_DIR.trim_start_matches("/sys/fs/cgroup/"));
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Some(dir),
        Err(err) => {
            crate::log!("init: creating {}: {}", dir.display(), err);
            None
        }
    }
}

/// Ends the agent after Shutdown: syncs, then powers off the VM (or, on a host, just exits).
pub fn power_off(system_control: bool) {
    sys::sync();
    if system_control {
        for target in ["/workspace", mounts::DISK_DIR] {
            let _ = sys::umount(target, libc::MNT_DETACH);
        }
        sys::sync();
        let err = sys::power_off();
        crate::log!("power off failed: {}", err);
    }
    std::process::exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_listeners_are_vsock_and_the_named_serial_port() {
        assert_eq!(
            default_listeners(),
            vec![ListenAddr::Vsock(1024), ListenAddr::Serial("/dev/virtio-ports/kelpie.agent".into())]
        );
    }
}
