//! Listeners: Unix socket (tests on the host), AF_VSOCK, and a virtio-serial port.
//!
//! A virtio-serial port is one byte stream with no connection boundaries (ADR 0010): the agent
//! scans for the HTTP/2 client preface, discards whatever came before it, and runs a fresh HTTP/2
//! session from there. A read of 0 (no host connected) or a broken session sends it back to
//! scanning, with backoff so that an absent host never makes it spin.

use std::io;
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::grpc::{serve_connection, Service};
use crate::sys;

/// AF_VSOCK port the agent listens on by default.
pub const DEFAULT_VSOCK_PORT: u32 = 1024;
/// virtio-serial port name the image exposes for the agent.
pub const DEFAULT_SERIAL_PATH: &str = "/dev/virtio-ports/kelpie.agent";
/// The HTTP/2 client connection preface (RFC 9113 section 3.4).
pub const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// First wait after a serial session ended with nothing to read.
pub const SERIAL_BACKOFF_MIN_MS: u64 = 50;
/// Longest wait between polls of an idle serial port.
pub const SERIAL_BACKOFF_MAX_MS: u64 = 1000;
const SCAN_READ_BYTES: usize = 16 * 1024;
/// Where the kernel lists virtio-serial ports, each with a `name` file.
const SYSFS_VIRTIO_PORTS: &str = "/sys/class/virtio-ports";

/// Where to listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Vsock(u32),
    Serial(PathBuf),
}

impl ListenAddr {
    /// Parses `unix:/path`, `vsock:PORT` (or `vsock:` for the default) and `serial:/dev/...`.
    pub fn parse(text: &str) -> Result<ListenAddr, String> {
        let (scheme, rest) = text.split_once(':').ok_or_else(|| format!("listen address {:?} lacks a scheme", text))?;
        match scheme {
            "unix" if !rest.is_empty() => Ok(ListenAddr::Unix(PathBuf::from(rest))),
            "vsock" if rest.is_empty() => Ok(ListenAddr::Vsock(DEFAULT_VSOCK_PORT)),
            "vsock" => rest.parse().map(ListenAddr::Vsock).map_err(|_| format!("bad vsock port {:?}", rest)),
            "serial" if !rest.is_empty() => Ok(ListenAddr::Serial(PathBuf::from(rest))),
            _ => Err(format!("unsupported listen address {:?} (unix:PATH, vsock:PORT, serial:PATH)", text)),
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            ListenAddr::Vsock(port) => write!(f, "vsock:{}", port),
            ListenAddr::Serial(p) => write!(f, "serial:{}", p.display()),
        }
    }
}

/// Runs one listener forever (returns only on a setup error).
pub async fn listen(addr: ListenAddr, service: Arc<dyn Service>) -> io::Result<()> {
    match addr {
        ListenAddr::Unix(path) => serve_unix(&path, service).await,
        ListenAddr::Vsock(port) => serve_vsock(port, service).await,
        ListenAddr::Serial(path) => {
            let port = SerialPort::open(&wait_for_serial_port(&path).await)?;
            serve_serial(port, service).await;
            Ok(())
        }
    }
}

async fn serve_unix(path: &Path, service: Arc<dyn Service>) -> io::Result<()> {
    // A socket file left by an earlier run would make bind fail.
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => spawn_connection(stream, service.clone()),
            Err(err) => accept_failed(err).await,
        }
    }
}

async fn serve_vsock(port: u32, service: Arc<dyn Service>) -> io::Result<()> {
    let mut listener = tokio_vsock::VsockListener::bind(libc::VMADDR_CID_ANY, port)?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => spawn_connection(stream, service.clone()),
            Err(err) => accept_failed(err).await,
        }
    }
}

fn spawn_connection<T>(stream: T, service: Arc<dyn Service>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(err) = serve_connection(stream, service).await {
            crate::log!("connection ended: {}", err);
        }
    });
}

async fn accept_failed(err: io::Error) {
    // EMFILE and friends: pause instead of spinning on a listener that stays readable.
    crate::log!("accept failed: {}", err);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Serves HTTP/2 sessions one after another over a byte stream without connection boundaries.
/// Never returns; the stream is never shut down, since the next host needs it.
pub async fn serve_serial<S>(mut port: S, service: Arc<dyn Service>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut backoff_ms = SERIAL_BACKOFF_MIN_MS;
    loop {
        match scan_for_preface(&mut port).await {
            Ok(Some(buffered)) => {
                backoff_ms = SERIAL_BACKOFF_MIN_MS;
                crate::log!("serial session started");
                let session = SessionIo { inner: &mut port, prefix: buffered, offset: 0 };
                match serve_connection(session, service.clone()).await {
                    Ok(()) => crate::log!("serial session ended: closed"),
                    Err(err) => crate::log!("serial session ended: {}", err),
                }
            }
            Ok(None) => {
                // No host connected (read of 0) or it hung up: wait and look again.
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(SERIAL_BACKOFF_MAX_MS);
            }
            Err(err) => {
                crate::log!("serial read failed: {}", err);
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(SERIAL_BACKOFF_MAX_MS);
            }
        }
    }
}

/// Reads until the HTTP/2 preface appears, discarding everything before it. Returns the preface
/// and any bytes read after it, or `None` at end of input.
pub async fn scan_for_preface<S: AsyncRead + Unpin>(port: &mut S) -> io::Result<Option<Vec<u8>>> {
    let mut window: Vec<u8> = Vec::with_capacity(SCAN_READ_BYTES + HTTP2_PREFACE.len());
    let mut buf = vec![0u8; SCAN_READ_BYTES];
    loop {
        let n = port.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        window.extend_from_slice(&buf[..n]);
        if let Some(at) = find(&window, HTTP2_PREFACE) {
            return Ok(Some(window.split_off(at)));
        }
        // Keep only a tail that could still be the start of a preface.
        let keep = (HTTP2_PREFACE.len() - 1).min(window.len());
        window.drain(..window.len() - keep);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The port as seen by one HTTP/2 session: buffered bytes first, and a shutdown that does not
/// close the port (the next session needs it).
struct SessionIo<'a, S> {
    inner: &'a mut S,
    prefix: Vec<u8>,
    offset: usize,
}

impl<'a, S: AsyncRead + Unpin> AsyncRead for SessionIo<'a, S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.offset < self.prefix.len() {
            let n = (self.prefix.len() - self.offset).min(buf.remaining());
            let start = self.offset;
            buf.put_slice(&self.prefix[start..start + n]);
            self.offset += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *self.inner).poll_read(cx, buf)
    }
}

impl<'a, S: AsyncWrite + Unpin> AsyncWrite for SessionIo<'a, S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }
}

/// A non-blocking file descriptor driven by tokio's reactor: a virtio-serial port, a pipe end or
/// a PTY master. A PTY's EIO reads as end of file.
pub struct FdStream {
    fd: AsyncFd<OwnedFd>,
}

impl FdStream {
    pub fn new(fd: OwnedFd) -> io::Result<FdStream> {
        sys::set_nonblocking(fd.as_raw_fd())?;
        Ok(FdStream { fd: AsyncFd::new(fd)? })
    }

    pub fn as_raw_fd(&self) -> i32 {
        self.fd.get_ref().as_raw_fd()
    }

    /// Reads what is available, waiting for readiness; 0 means end of file.
    pub async fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| sys::read(fd.get_ref().as_raw_fd(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes some of `data`, waiting for room.
    pub async fn write_some(&self, data: &[u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| sys::write(fd.get_ref().as_raw_fd(), data)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Reads without waiting: `Ok(None)` when nothing is available right now.
    pub fn try_read_now(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match sys::read(self.as_raw_fd(), buf) {
            Ok(n) => Ok(Some(n)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) => Err(err),
        }
    }
}

impl AsyncRead for FdStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            };
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| sys::read(fd.get_ref().as_raw_fd(), unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = match self.fd.poll_write_ready(cx) {
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            };
            match guard.try_io(|fd| sys::write(fd.get_ref().as_raw_fd(), data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Where the virtio-serial port `path` lives. udev would link `/dev/virtio-ports/<name>` to it; our
/// images have no udev, so a missing link is resolved through sysfs, where each port lists its name.
pub fn resolve_serial_port(path: &Path, sysfs_ports: &Path) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let name = path.strip_prefix("/dev/virtio-ports").ok()?.to_str()?;
    std::fs::read_dir(sysfs_ports).ok()?.flatten().find_map(|entry| {
        let port_name = std::fs::read_to_string(entry.path().join("name")).ok()?;
        if port_name.trim() == name {
            Some(Path::new("/dev").join(entry.file_name()))
        } else {
            None
        }
    })
}

/// Waits until the port exists: the VMM announces virtio-serial ports after the driver probed, so
/// right after boot the port may not be there yet. Polls with backoff, never spinning.
async fn wait_for_serial_port(path: &Path) -> PathBuf {
    let mut backoff_ms = SERIAL_BACKOFF_MIN_MS;
    let mut logged = false;
    loop {
        if let Some(device) = resolve_serial_port(path, Path::new(SYSFS_VIRTIO_PORTS)) {
            return device;
        }
        if !logged {
            crate::log!("waiting for virtio-serial port {}", path.display());
            logged = true;
        }
        tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
        backoff_ms = (backoff_ms * 2).min(SERIAL_BACKOFF_MAX_MS);
    }
}

/// An open virtio-serial port.
pub struct SerialPort;

impl SerialPort {
    pub fn open(path: &Path) -> io::Result<SerialStream> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        SerialStream::new(OwnedFd::from(file))
    }
}

/// The raw descriptor of a port, registered with the reactor (the `OwnedFd` stays in the stream,
/// so that a registration can be dropped and made again).
struct PortFd(RawFd);

impl AsRawFd for PortFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A virtio-serial port driven by tokio's reactor.
///
/// The port polls HUP whenever no host is connected, and stops doing so when one connects. Tokio
/// takes HUP as final ("closed" readiness is never cleared), so after the first HUP a plain
/// `AsyncFd` reports the port ready forever and every read or write that would block spins
/// instead of waiting. Here a would-block on a port whose readiness is stale drops the
/// registration and registers again, which starts from the port's current state. A write that
/// would block while no host is connected fails after a short grace (like a socket whose peer
/// left) rather than waiting for the next host: its bytes belong to a session that is gone. The
/// grace covers a new host's bytes arriving before the guest processed its "connected" event.
pub struct SerialStream {
    fd: OwnedFd,
    io: Option<AsyncFd<PortFd>>,
    /// Since when writes have found no host connected.
    absent_since: Option<std::time::Instant>,
    /// Wakes a write waiting for a host to show up.
    absent_tick: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How long a write waits for a host before failing its session.
const SERIAL_ABSENT_WRITE_GRACE: Duration = Duration::from_millis(500);
/// How often such a write looks again.
const SERIAL_ABSENT_POLL: Duration = Duration::from_millis(10);

impl SerialStream {
    pub fn new(fd: OwnedFd) -> io::Result<SerialStream> {
        sys::set_nonblocking(fd.as_raw_fd())?;
        let io = AsyncFd::new(PortFd(fd.as_raw_fd()))?;
        Ok(SerialStream { fd, io: Some(io), absent_since: None, absent_tick: None })
    }

    fn io(&self) -> io::Result<&AsyncFd<PortFd>> {
        self.io.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::Other, "serial port not registered"))
    }

    /// Registers the port afresh (epoll refuses a descriptor registered twice: drop first).
    fn rearm(&mut self) -> io::Result<()> {
        self.io = None;
        self.io = Some(AsyncFd::new(PortFd(self.fd.as_raw_fd()))?);
        Ok(())
    }

    /// Whether the port polls HUP right now, i.e. no host is connected.
    fn host_absent(&self) -> bool {
        sys::poll_now(self.fd.as_raw_fd(), libc::POLLOUT) & libc::POLLHUP != 0
    }
}

/// How many times one poll may find the readiness stale before yielding to the scheduler.
const MAX_REARMS_PER_POLL: usize = 2;

impl SerialStream {
    /// After an operation would block: the first time, just wait for readiness again (it was
    /// cleared); if the port is reported ready again at once, the readiness is stale: register
    /// afresh; if it still is, yield instead of spinning. `Ok(false)`: the caller returns Pending.
    fn after_would_block(&mut self, cx: &mut Context<'_>, tries: &mut usize) -> io::Result<bool> {
        *tries += 1;
        if *tries == 1 {
            return Ok(true);
        }
        if *tries > 1 + MAX_REARMS_PER_POLL {
            // Leave a wake-up behind so that the caller's Pending is retried, not lost.
            cx.waker().wake_by_ref();
            return Ok(false);
        }
        self.rearm()?;
        // Whoever waited on the dropped registration (the other direction of the same session)
        // must poll again to wait on the new one.
        cx.waker().wake_by_ref();
        Ok(true)
    }
}

impl AsyncRead for SerialStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut tries = 0;
        loop {
            let result = {
                let mut guard = match this.io()?.poll_read_ready(cx) {
                    Poll::Ready(Ok(guard)) => guard,
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => return Poll::Pending,
                };
                let unfilled = buf.initialize_unfilled();
                guard.try_io(|fd| sys::read(fd.get_ref().0, unfilled))
            };
            match result {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => {
                    if !this.after_would_block(cx, &mut tries)? {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl AsyncWrite for SerialStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut tries = 0;
        loop {
            let result = {
                let mut guard = match this.io()?.poll_write_ready(cx) {
                    Poll::Ready(Ok(guard)) => guard,
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => return Poll::Pending,
                };
                guard.try_io(|fd| sys::write(fd.get_ref().0, data))
            };
            match result {
                Ok(result) => {
                    this.absent_since = None;
                    this.absent_tick = None;
                    return Poll::Ready(result);
                }
                Err(_would_block) => {
                    if this.host_absent() {
                        // A new host's bytes can arrive before the guest has processed its "host
                        // connected" event: wait a little for it before giving the session up.
                        let since = *this.absent_since.get_or_insert_with(std::time::Instant::now);
                        if since.elapsed() >= SERIAL_ABSENT_WRITE_GRACE {
                            this.absent_since = None;
                            return Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "no host on the serial port")));
                        }
                        let mut tick = Box::pin(tokio::time::sleep(SERIAL_ABSENT_POLL));
                        if tick.as_mut().poll(cx).is_ready() {
                            cx.waker().wake_by_ref();
                        }
                        this.absent_tick = Some(tick);
                        return Poll::Pending;
                    }
                    if !this.after_would_block(cx, &mut tries)? {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_a_named_port_through_sysfs() {
        let sysfs = std::env::temp_dir().join(format!("kelpie-sysfs-{}", std::process::id()));
        for (port, name) in [("vport0p1", "other"), ("vport3p1", "kelpie.agent")] {
            std::fs::create_dir_all(sysfs.join(port)).unwrap();
            std::fs::write(sysfs.join(port).join("name"), format!("{}\n", name)).unwrap();
        }
        let found = resolve_serial_port(Path::new(DEFAULT_SERIAL_PATH), &sysfs);
        let missing = resolve_serial_port(Path::new("/dev/virtio-ports/absent"), &sysfs);
        let _ = std::fs::remove_dir_all(&sysfs);
        assert_eq!(found, Some(PathBuf::from("/dev/vport3p1")));
        assert_eq!(missing, None);
    }

    #[test]
    fn parses_listen_addresses() {
        assert_eq!(ListenAddr::parse("unix:/tmp/a.sock"), Ok(ListenAddr::Unix("/tmp/a.sock".into())));
        assert_eq!(ListenAddr::parse("vsock:2048"), Ok(ListenAddr::Vsock(2048)));
        assert_eq!(ListenAddr::parse("vsock:"), Ok(ListenAddr::Vsock(DEFAULT_VSOCK_PORT)));
        assert_eq!(
            ListenAddr::parse("serial:/dev/virtio-ports/kelpie.agent"),
            Ok(ListenAddr::Serial(DEFAULT_SERIAL_PATH.into()))
        );
        assert!(ListenAddr::parse("tcp:1").is_err());
        assert!(ListenAddr::parse("vsock:x").is_err());
        assert!(ListenAddr::parse("unix:").is_err());
    }

    #[tokio::test]
    async fn preface_found_across_reads_after_garbage() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            a.write_all(b"garbage PRI * HTTP/1.1 ").await.unwrap();
            for byte in HTTP2_PREFACE {
                a.write_all(&[*byte]).await.unwrap();
            }
            a.write_all(b"rest").await.unwrap();
            a
        });
        let mut got = scan_for_preface(&mut b).await.unwrap().unwrap();
        while got.len() < HTTP2_PREFACE.len() + 4 {
            let mut more = [0u8; 16];
            let n = b.read(&mut more).await.unwrap();
            got.extend_from_slice(&more[..n]);
        }
        assert_eq!(&got[..HTTP2_PREFACE.len()], HTTP2_PREFACE);
        assert_eq!(&got[HTTP2_PREFACE.len()..], b"rest");
        drop(writer.await.unwrap());
        assert_eq!(scan_for_preface(&mut b).await.unwrap(), None);
    }
}
