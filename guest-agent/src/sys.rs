//! Thin wrappers over system calls. The only module allowed to use `unsafe`; each block says why
//! it is sound.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Makes this process the reaper of orphaned descendants, so that `server &` left behind by an
/// exec is reaped by us rather than becoming an unreaped zombie elsewhere.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(|_| ())
}

/// The outcome of one reaped child.
#[derive(Clone, Copy, Debug)]
pub struct Reaped {
    pub pid: i32,
    /// Raw wait status.
    pub status: i32,
    pub user_cpu_ms: u64,
    pub system_cpu_ms: u64,
    pub max_rss_kib: u64,
}

impl Reaped {
    pub fn exit_code(&self) -> Option<i32> {
        if libc::WIFEXITED(self.status) {
            Some(libc::WEXITSTATUS(self.status))
        } else {
            None
        }
    }
    pub fn signal(&self) -> Option<i32> {
        if libc::WIFSIGNALED(self.status) {
            Some(libc::WTERMSIG(self.status))
        } else {
            None
        }
    }
    pub fn core_dumped(&self) -> bool {
        libc::WIFSIGNALED(self.status) && libc::WCOREDUMP(self.status)
    }
}

/// Reaps one exited child of any kind without blocking; `None` when none is waiting.
pub fn reap_any() -> Option<Reaped> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 writes into the two locals only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, &mut usage) };
    if pid <= 0 {
        return None;
    }
    let ms = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
    Some(Reaped {
        pid,
        status,
        user_cpu_ms: ms(usage.ru_utime),
        system_cpu_ms: ms(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
    })
}

/// Sends a signal (any number, including real-time ones) to a process group.
pub fn kill_group(pgid: i32, signal: i32) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill takes plain integers; a negative pid addresses the group.
    check(unsafe { libc::kill(-pgid, signal) }).map(|_| ())
}

/// Sends a signal to one process.
pub fn kill_process(pid: i32, signal: i32) -> io::Result<()> {
    if pid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill takes plain integers.
    check(unsafe { libc::kill(pid, signal) }).map(|_| ())
}

/// Whether a process exists (signal 0), zombies included.
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// A pipe with both ends close-on-exec; the child's end is dup'ed onto 0/1/2 by `Command`.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two-element array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Opens a pseudo-terminal pair (master, slave), both close-on-exec.
pub fn openpty(rows: u16, columns: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    let size = libc::winsize { ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0 };
    let (mut master, mut slave) = (0 as libc::c_int, 0 as libc::c_int);
    // SAFETY: openpty writes two descriptors; name and termios are null, winsize points to a local.
    check(unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) })?;
    // SAFETY: fresh descriptors owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    set_cloexec(master.as_raw_fd())?;
    set_cloexec(slave.as_raw_fd())?;
    Ok((master, slave))
}

fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }).map(|_| ())
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(|_| ())
}

/// Sets a terminal's size in cells.
pub fn set_window_size(fd: RawFd, rows: u16, columns: u16) -> io::Result<()> {
    let size = libc::winsize { ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) }).map(|_| ())
}

/// Reads into `buf`; a closed PTY (EIO) reads as end of file.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EIO) {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(n as usize)
}

/// The descriptor's poll events right now (no waiting); 0 if poll fails.
pub fn poll_now(fd: RawFd, events: libc::c_short) -> libc::c_short {
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    if n > 0 {
        pfd.revents
    } else {
        0
    }
}

pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for its length.
    let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

const CHILD_OOM_SCORE_ADJ_PATH: &[u8] = b"/proc/self/oom_score_adj\0";
/// oom_score_adj of every process the agent starts: first in line when memory runs out.
const CHILD_OOM_SCORE_ADJ: &[u8] = b"500";

/// Everything a child does between fork and exec, decided by the parent beforehand so that the
/// child only makes async-signal-safe system calls (no allocation).
#[derive(Debug, Default)]
pub struct ChildSetup {
    /// An open `cgroup.procs` to write "0" (this process) into.
    pub cgroup_procs_fd: Option<RawFd>,
    /// Make stdin (a PTY slave) the controlling terminal.
    pub controlling_tty: bool,
    /// Switch to this uid/gid with these supplementary groups.
    pub credentials: Option<(u32, u32, Vec<u32>)>,
}

/// Installs the pre-exec steps: cgroup first (needs root), then a new session (the process group
/// we signal), then the terminal, then the credentials.
pub fn configure_child(command: &mut Command, setup: ChildSetup) {
    let groups: Vec<libc::gid_t> = setup.credentials.as_ref().map(|c| c.2.clone()).unwrap_or_default();
    let closure = move || -> io::Result<()> {
        if let Some(fd) = setup.cgroup_procs_fd {
            // Best effort: a failing cgroup must not stop the process from running.
            // SAFETY: write of a static buffer.
            unsafe { libc::write(fd, b"0".as_ptr() as *const libc::c_void, 1) };
        }
        // The agent shields itself from the OOM killer (init sets -1000) and a child inherits that: then an OOM
        // in the sandbox's cgroup finds no process it may kill and the hog just stalls. Give children a score the
        // killer prefers. Raising the value needs no privilege; best effort like the cgroup.
        // SAFETY: open/write/close of static, NUL-terminated buffers are async-signal-safe.
        unsafe {
            let fd = libc::open(CHILD_OOM_SCORE_ADJ_PATH.as_ptr() as *const libc::c_char, libc::O_WRONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                libc::write(fd, CHILD_OOM_SCORE_ADJ.as_ptr() as *const libc::c_void, CHILD_OOM_SCORE_ADJ.len());
                libc::close(fd);
            }
        }
        // A signal the agent was started with ignored (SIGINT and SIGQUIT for a job a shell put in the background,
        // SIGHUP under nohup) would stay ignored across exec: the process would shrug off a Signal request and the
        // Ctrl-C of an interactive exec. Every process starts with the default dispositions instead.
        // SAFETY: signal() is async-signal-safe; SIGKILL and SIGSTOP are skipped (their disposition is fixed).
        unsafe {
            for signal in 1..libc::SIGRTMIN() {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    libc::signal(signal, libc::SIG_DFL);
                }
            }
        }
        // SAFETY: setsid/ioctl/set*id are async-signal-safe and take plain arguments.
        unsafe {
            check(libc::setsid())?;
            if setup.controlling_tty {
                check(libc::ioctl(0, libc::TIOCSCTTY, 0))?;
            }
            if let Some((uid, gid, _)) = setup.credentials {
                check(libc::setgroups(groups.len(), groups.as_ptr()))?;
                check(libc::setgid(gid))?;
                check(libc::setuid(uid))?;
            }
        }
        Ok(())
    };
    // SAFETY: the closure only makes async-signal-safe calls and does not allocate.
    unsafe {
        command.pre_exec(closure);
    }
}

/// Credits entropy to the kernel pool (RNDADDENTROPY) and reseeds the CRNG from it at once (RNDRESEEDCRNG), so clones
/// of a snapshot diverge: since Linux 5.18 a credit reaches /dev/urandom only at the CRNG's next scheduled reseed
/// (1 s to 60 s away), and until then every clone reads the bytes the snapshot's CRNG state gives.
pub fn add_entropy(random: &File, entropy: &[u8]) -> io::Result<()> {
    #[repr(C)]
    struct RandPoolInfo {
        entropy_count: libc::c_int,
        buf_size: libc::c_int,
        buf: [u8; 512],
    }
    const RNDADDENTROPY: libc::c_ulong = 0x4008_5203;
    for chunk in entropy.chunks(512) {
        let mut info = RandPoolInfo { entropy_count: (chunk.len() * 8) as libc::c_int, buf_size: chunk.len() as libc::c_int, buf: [0; 512] };
        info.buf[..chunk.len()].copy_from_slice(chunk);
        // SAFETY: the struct has the kernel's rand_pool_info layout with its buffer inline.
        check(unsafe { libc::ioctl(random.as_raw_fd(), RNDADDENTROPY as _, &info) })?;
    }
    const RNDRESEEDCRNG: libc::c_ulong = 0x5207;
    // SAFETY: the ioctl takes no argument.
    check(unsafe { libc::ioctl(random.as_raw_fd(), RNDRESEEDCRNG as _) })?;
    Ok(())
}

/// The size in bytes of a block device (BLKGETSIZE64).
pub fn block_device_bytes(device: &File) -> io::Result<u64> {
    // _IOR(0x12, 114, size_t); size_t is 8 bytes on the 64-bit guests Kelpie runs (x86_64, aarch64).
    const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
    let mut bytes: u64 = 0;
    // SAFETY: the kernel writes one u64 into the local.
    check(unsafe { libc::ioctl(device.as_raw_fd(), BLKGETSIZE64 as _, &mut bytes) })?;
    Ok(bytes)
}

/// Grows the mounted ext4 file system that `dir` (any file or directory on it) belongs to, to
/// `blocks` file system blocks, online (EXT4_IOC_RESIZE_FS).
pub fn ext4_resize(dir: &File, blocks: u64) -> io::Result<()> {
    // _IOW('f', 16, __u64)
    const EXT4_IOC_RESIZE_FS: libc::c_ulong = 0x4008_6610;
    // SAFETY: the kernel reads one u64 from the local.
    check(unsafe { libc::ioctl(dir.as_raw_fd(), EXT4_IOC_RESIZE_FS as _, &blocks) }).map(|_| ())
}

/// What statfs says of the file system `path` is on: its type (f_type) and its size in bytes as
/// df shows it (f_blocks x f_bsize, without the file system's own overhead).
pub fn filesystem_type_and_bytes(path: &str) -> io::Result<(u64, u64)> {
    let path = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: statfs is plain old data filled by the kernel; the path is NUL-terminated.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    check(unsafe { libc::statfs(path.as_ptr(), &mut fs) })?;
    Ok((fs.f_type as u64, fs.f_blocks as u64 * fs.f_bsize as u64))
}

/// Steps CLOCK_REALTIME.
pub fn set_realtime_ns(unix_ns: i64) -> io::Result<()> {
    let ts = libc::timespec { tv_sec: unix_ns.div_euclid(1_000_000_000) as libc::time_t, tv_nsec: unix_ns.rem_euclid(1_000_000_000) as _ };
    // SAFETY: reads one timespec.
    check(unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) }).map(|_| ())
}

pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe the string's bytes.
    check(unsafe { libc::sethostname(name.as_ptr() as *const libc::c_char, name.len()) }).map(|_| ())
}

/// A socket for the interface ioctls, which work on any AF_INET socket.
fn inet_control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket with integer arguments; the fd is owned by the returned value only.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn interface_request(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {:?}", name)));
    }
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    Ok(req)
}

fn inet_sockaddr(addr: std::net::Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(addr.octets()) },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size (16 bytes); the kernel reads it by family.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Sets an interface up, with an MTU when given (SIOCSIFMTU, SIOCGIFFLAGS/SIOCSIFFLAGS).
pub fn interface_up(name: &str, mtu: Option<u32>) -> io::Result<()> {
    let socket = inet_control_socket()?;
    let mut req = interface_request(name)?;
    if let Some(mtu) = mtu {
        req.ifr_ifru.ifru_mtu = mtu as libc::c_int;
        // SAFETY: req is a valid ifreq naming the interface; the kernel reads ifru_mtu.
        check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFMTU as _, &mut req) })?;
    }
    // SAFETY: as above; the kernel fills ifru_flags.
    check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) })?;
    // SAFETY: ifru_flags was just written by the kernel.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; the kernel reads ifru_flags.
    check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &mut req) }).map(|_| ())
}

/// Gives an interface its IPv4 address and netmask (SIOCSIFADDR, SIOCSIFNETMASK).
pub fn interface_ipv4(name: &str, address: std::net::Ipv4Addr, prefix_bits: u8) -> io::Result<()> {
    let socket = inet_control_socket()?;
    let mut req = interface_request(name)?;
    req.ifr_ifru.ifru_addr = inet_sockaddr(address);
    // SAFETY: req is a valid ifreq with an AF_INET address.
    check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFADDR as _, &mut req) })?;
    let mask = if prefix_bits == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix_bits.min(32))) };
    req.ifr_ifru.ifru_netmask = inet_sockaddr(std::net::Ipv4Addr::from(mask));
    // SAFETY: as above, with the netmask.
    check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFNETMASK as _, &mut req) }).map(|_| ())
}

/// Adds the IPv4 default route via `gateway` (SIOCADDRT); one that exists already is kept.
pub fn default_route_ipv4(gateway: std::net::Ipv4Addr) -> io::Result<()> {
    let socket = inet_control_socket()?;
    // SAFETY: rtentry is plain old data; all zeroes is a valid value (no device pointer).
    let mut route: libc::rtentry = unsafe { std::mem::zeroed() };
    route.rt_dst = inet_sockaddr(std::net::Ipv4Addr::UNSPECIFIED);
    route.rt_genmask = inet_sockaddr(std::net::Ipv4Addr::UNSPECIFIED);
    route.rt_gateway = inet_sockaddr(gateway);
    route.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
    // SAFETY: route is a valid rtentry whose pointers are null.
    match check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCADDRT as _, &mut route) }) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Mounts a file system; `data` is the comma-separated option string.
pub fn mount(source: &str, target: &str, fstype: &str, flags: libc::c_ulong, data: &str) -> io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
    let (source, target, fstype, data) = (c(source)?, c(target)?, c(fstype)?, c(data)?);
    let data_ptr = if data.as_bytes().is_empty() { std::ptr::null() } else { data.as_ptr() as *const libc::c_void };
    // SAFETY: all pointers are NUL-terminated strings that outlive the call.
    check(unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), flags, data_ptr) }).map(|_| ())
}

pub fn umount(target: &str, flags: libc::c_int) -> io::Result<()> {
    let target = CString::new(target).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: NUL-terminated path.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(|_| ())
}

pub fn chroot(path: &str) -> io::Result<()> {
    let path = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: NUL-terminated path.
    check(unsafe { libc::chroot(path.as_ptr()) }).map(|_| ())
}

pub fn sync() {
    // SAFETY: no arguments.
    unsafe { libc::sync() }
}

/// Powers the machine off. Only returns on failure.
pub fn power_off() -> io::Error {
    // SAFETY: no pointers; as PID 1 this ends the VM.
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    io::Error::last_os_error()
}

/// The current process id.
pub fn getpid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::getpid() }
}

/// lchown (does not follow a final symlink).
pub fn lchown(path: &std::path::Path, uid: u32, gid: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: NUL-terminated path.
    check(unsafe { libc::lchown(path.as_ptr(), uid, gid) }).map(|_| ())
}

/// Kernel identification.
pub fn uname() -> (String, String) {
    // SAFETY: utsname is plain old data filled by the kernel.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return (String::new(), String::new());
    }
    let field = |chars: &[libc::c_char]| {
        let bytes: Vec<u8> = chars.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&uts.machine), field(&uts.release))
}
