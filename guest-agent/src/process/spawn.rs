//! Turning an ExecStart into a running child: user, environment, stdio (pipes or a PTY), its
//! own session, and the user cgroup.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use tokio::sync::oneshot;

use super::reaper::Reaper;
use super::users::{self, User};
use crate::proto::{ExecStart, Failed, FailureStage, StdinMode};
use crate::sys::{self, ChildSetup, Reaped};
use crate::transport::FdStream;

/// PATH for processes whose request and Configure env do not set one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// PTY size when the request gives none.
const DEFAULT_TERMINAL_ROWS: u16 = 24;
const DEFAULT_TERMINAL_COLUMNS: u16 = 80;

/// Where spawned processes look for things.
#[derive(Clone, Debug)]
pub struct SpawnSettings {
    pub workspace_dir: PathBuf,
    pub passwd_path: PathBuf,
    pub group_path: PathBuf,
    /// cgroup v2 directory user processes join (None: stay in the agent's cgroup).
    pub user_cgroup: Option<PathBuf>,
}

/// A started child and the parent's ends of its stdio.
pub struct Spawned {
    pub pid: u32,
    pub exit: oneshot::Receiver<Reaped>,
    pub stdout: Arc<FdStream>,
    pub stderr: Option<FdStream>,
    pub stdin: Option<Arc<FdStream>>,
    pub terminal: Option<Arc<FdStream>>,
}

pub fn failure(stage: FailureStage, reason: impl Into<String>, errno: i32) -> Failed {
    Failed { reason: reason.into(), errno, stage: stage as i32 }
}

fn io_failure(stage: FailureStage, what: &str, err: io::Error) -> Failed {
    failure(stage, format!("{}: {}", what, err), err.raw_os_error().unwrap_or(0))
}

pub fn spawn(start: &ExecStart, base_env: &HashMap<String, String>, settings: &SpawnSettings, reaper: &Reaper) -> Result<Spawned, Failed> {
    let program = start.argv.first().filter(|p| !p.is_empty()).ok_or_else(|| failure(FailureStage::Request, "argv is empty", 0))?;
    let user = users::resolve(&start.user, &settings.passwd_path, &settings.group_path)
        .map_err(|e| failure(FailureStage::Request, e.to_string(), 0))?;
    let cwd = if start.cwd.is_empty() { settings.workspace_dir.clone() } else { PathBuf::from(&start.cwd) };
    match std::fs::metadata(&cwd) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(failure(FailureStage::Request, format!("cwd {} is not a directory", cwd.display()), libc::ENOTDIR)),
        Err(err) => return Err(io_failure(FailureStage::Request, &format!("cwd {}", cwd.display()), err)),
    }
    let mode = StdinMode::from_i32(start.stdin_mode).unwrap_or(StdinMode::Unspecified);
    let pty = mode == StdinMode::Pty;

    let mut command = Command::new(program);
    command.args(&start.argv[1..]).current_dir(&cwd).env_clear().envs(environment(start, base_env, &user, pty));

    let setup_err = |what: &str, err: io::Error| io_failure(FailureStage::Setup, what, err);
    let (stdout, stderr, stdin, terminal);
    if pty {
        let size = start.terminal_size.clone().unwrap_or_default();
        let rows = if size.rows == 0 { DEFAULT_TERMINAL_ROWS } else { size.rows.min(u16::MAX as u32) as u16 };
        let columns = if size.columns == 0 { DEFAULT_TERMINAL_COLUMNS } else { size.columns.min(u16::MAX as u32) as u16 };
        let (master, slave) = sys::openpty(rows, columns).map_err(|e| setup_err("openpty", e))?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| setup_err("dup", e));
        command.stdin(Stdio::from(dup(&slave)?)).stdout(Stdio::from(dup(&slave)?)).stderr(Stdio::from(slave));
        let master = Arc::new(FdStream::new(master).map_err(|e| setup_err("pty master", e))?);
        stdout = master.clone();
        stderr = None;
        stdin = Some(master.clone());
        terminal = Some(master);
    } else {
        let (out_r, out_w) = sys::pipe().map_err(|e| setup_err("pipe", e))?;
        let (err_r, err_w) = sys::pipe().map_err(|e| setup_err("pipe", e))?;
        command.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        stdin = if mode == StdinMode::Pipe {
            let (in_r, in_w) = sys::pipe().map_err(|e| setup_err("pipe", e))?;
            command.stdin(Stdio::from(in_r));
            Some(Arc::new(FdStream::new(in_w).map_err(|e| setup_err("stdin pipe", e))?))
        } else {
            command.stdin(Stdio::null());
            None
        };
        stdout = Arc::new(FdStream::new(out_r).map_err(|e| setup_err("stdout pipe", e))?);
        stderr = Some(FdStream::new(err_r).map_err(|e| setup_err("stderr pipe", e))?);
        terminal = None;
    }

    // Kept open until after the spawn: the child writes "0" into it before exec.
    let cgroup_procs = settings
        .user_cgroup
        .as_ref()
        .and_then(|dir| OpenOptions::new().write(true).open(dir.join("cgroup.procs")).ok());
    let credentials = if start.user.trim().is_empty() { None } else { Some((user.uid, user.gid, user.groups.clone())) };
    sys::configure_child(
        &mut command,
        ChildSetup { cgroup_procs_fd: cgroup_procs.as_ref().map(|f| f.as_raw_fd()), controlling_tty: pty, credentials },
    );
    let (pid, exit) = reaper.spawn(&mut command).map_err(|e| io_failure(FailureStage::Exec, &format!("exec {}", program), e))?;
    // Dropping the command closes the parent's copies of the child's pipe ends and PTY slave, so
    // that EOF arrives when the child side closes.
    drop(command);
    Ok(Spawned { pid, exit, stdout, stderr, stdin, terminal })
}

fn environment(start: &ExecStart, base_env: &HashMap<String, String>, user: &User, pty: bool) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("PATH".to_string(), DEFAULT_PATH.to_string());
    env.insert("HOME".to_string(), user.home.clone());
    env.insert("USER".to_string(), user.name.clone());
    env.insert("LOGNAME".to_string(), user.name.clone());
    if pty {
        env.insert("TERM".to_string(), "xterm-256color".to_string());
    }
    env.extend(base_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(start.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}
