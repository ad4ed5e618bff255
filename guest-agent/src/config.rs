//! Agent settings from the command line (and, as PID 1, the kernel command line).

use std::path::PathBuf;
use std::time::Duration;

use crate::process::{Retention, DEFAULT_REATTACH_GRACE_MS};
use crate::transport::ListenAddr;

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub listen: Vec<ListenAddr>,
    pub workspace_dir: PathBuf,
    pub image_version_path: PathBuf,
    pub generation_path: PathBuf,
    pub passwd_path: PathBuf,
    pub group_path: PathBuf,
    /// cgroup v2 directory for user processes; None keeps them in the agent's cgroup.
    pub user_cgroup: Option<PathBuf>,
    pub reattach_grace: Duration,
    pub retention: Retention,
    /// Run the PID 1 duties (mounts, overlay root, power-off).
    pub init: bool,
    /// Allowed to change machine-wide state: hostname, clock, network, power. On only inside the
    /// VM, so that tests on a host never step its clock.
    pub system_control: bool,
    /// TCP in place of vsock for the relays, where the VMM has no vsock (`kelpie.vsock.tcp=`).
    pub vsock_stand_in: Option<crate::relay::TcpStandIn>,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            listen: Vec::new(),
            workspace_dir: PathBuf::from("/workspace"),
            image_version_path: PathBuf::from("/etc/kelpie-version"),
            generation_path: PathBuf::from("/run/kelpie/generation"),
            passwd_path: PathBuf::from("/etc/passwd"),
            group_path: PathBuf::from("/etc/group"),
            user_cgroup: None,
            reattach_grace: Duration::from_millis(DEFAULT_REATTACH_GRACE_MS),
            retention: Retention::default(),
            init: false,
            system_control: false,
            vsock_stand_in: None,
        }
    }
}

pub const USAGE: &str = "usage: kelpie-agent [--listen unix:PATH|vsock:PORT|serial:PATH]... [--workspace DIR]
       [--image-version-file PATH] [--generation-file PATH] [--passwd-file PATH] [--group-file PATH]
       [--user-cgroup DIR] [--reattach-grace-ms MS] [--retain-finished-ms MS]
       [--retain-finished-count N] [--retain-finished-bytes N] [--init] [--system-control] [--version]
As PID 1 (or with --init) it mounts the system, builds the overlay root and reads
kelpie.agent.listen=... from /proc/cmdline; default listeners then are vsock:1024 and
serial:/dev/virtio-ports/kelpie.agent when that port exists.";

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    Run(AgentConfig),
    Version,
}

pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut config = AgentConfig::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{} needs a value", flag));
        match flag.as_str() {
            "--listen" => config.listen.push(ListenAddr::parse(&value()?)?),
            "--workspace" => config.workspace_dir = value()?.into(),
            "--image-version-file" => config.image_version_path = value()?.into(),
            "--generation-file" => config.generation_path = value()?.into(),
            "--passwd-file" => config.passwd_path = value()?.into(),
            "--group-file" => config.group_path = value()?.into(),
            "--user-cgroup" => config.user_cgroup = Some(value()?.into()),
            "--reattach-grace-ms" => {
                let ms: u64 = value()?.parse().map_err(|_| "--reattach-grace-ms needs milliseconds".to_string())?;
                config.reattach_grace = Duration::from_millis(ms);
            }
            "--retain-finished-ms" => config.retention.time = Duration::from_millis(number(&flag, &value()?)?),
            "--retain-finished-count" => config.retention.max_count = number(&flag, &value()?)? as usize,
            "--retain-finished-bytes" => config.retention.max_bytes = number(&flag, &value()?)?,
            "--init" => {
                config.init = true;
                config.system_control = true;
            }
            "--system-control" => config.system_control = true,
            "--version" => return Ok(Command::Version),
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {:?}\n{}", other, USAGE)),
        }
    }
    Ok(Command::Run(config))
}

fn number(flag: &str, value: &str) -> Result<u64, String> {
    value.parse().map_err(|_| format!("{} needs a non-negative number, not {:?}", flag, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let cmd = parse_args(args(&["--listen", "unix:/tmp/s", "--listen=vsock:5", "--workspace", "/w", "--reattach-grace-ms", "500"])).unwrap();
        let config = match cmd {
            Command::Run(c) => c,
            _ => panic!("expected run"),
        };
        assert_eq!(config.listen, vec![ListenAddr::Unix("/tmp/s".into()), ListenAddr::Vsock(5)]);
        assert_eq!(config.workspace_dir, PathBuf::from("/w"));
        assert_eq!(config.reattach_grace, Duration::from_millis(500));
        assert_eq!(config.retention, Retention::default());
        assert!(!config.system_control);
        let cmd = parse_args(args(&["--retain-finished-ms", "10", "--retain-finished-count=2", "--retain-finished-bytes", "9"])).unwrap();
        match cmd {
            Command::Run(c) => assert_eq!(c.retention, Retention { time: Duration::from_millis(10), max_count: 2, max_bytes: 9 }),
            _ => panic!("expected run"),
        }
    }

    #[test]
    fn rejects_unknown() {
        assert!(parse_args(args(&["--bogus"])).is_err());
        assert!(parse_args(args(&["--listen"])).is_err());
        assert!(parse_args(args(&["--retain-finished-ms", "-1"])).is_err());
    }
}
