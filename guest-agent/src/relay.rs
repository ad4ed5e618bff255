//! Guest-side relays between TCP and vsock, for a VMM without a network device (libkrun, ADR 0022
//! addendum): the egress proxy's guest address relayed to the host's vsock port that libkrun maps
//! to the sandbox's proxy socket, and published ports relayed from a guest vsock port (which
//! libkrun serves as a host socket) to the guest's TCP port. The daemon still enforces everything;
//! the relays only carry bytes.
//!
//! A VMM that has no vsock at all (the test double's QEMU under TCG) names a TCP stand-in on the
//! kernel command line (`kelpie.vsock.tcp=GUEST_CIDR,HOST_ADDRESS`): the agent then gives eth0
//! GUEST_CIDR, reaches host port P at HOST_ADDRESS:P and serves guest port P as TCP port P.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::proto::vsock_relay::Direction;
use crate::proto::VsockRelay;

/// The host's vsock context id, as every VMM numbers it.
const HOST_CID: u32 = 2;
/// The alias of lo that carries relay addresses outside 127/8 (the egress proxy's 10.0.2.100).
const LOOPBACK_ALIAS: &str = "lo:0";

/// What stands in for vsock where the VMM has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpStandIn {
    /// eth0's address and prefix.
    pub guest: (Ipv4Addr, u8),
    /// Where host vsock ports are reached.
    pub host: Ipv4Addr,
}

impl TcpStandIn {
    /// Parses `GUEST_CIDR,HOST_ADDRESS`.
    pub fn parse(text: &str) -> Result<TcpStandIn, String> {
        let (guest, host) = text.split_once(',').ok_or_else(|| format!("kelpie.vsock.tcp={:?} is not GUEST_CIDR,HOST_ADDRESS", text))?;
        let guest = crate::init::network::parse_cidr(guest)?;
        let host = host.parse().map_err(|_| format!("kelpie.vsock.tcp: {:?} is not an IPv4 address", host))?;
        Ok(TcpStandIn { guest, host })
    }
}

/// A relay as Configure asked for it, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    pub to_host: bool,
    pub guest: SocketAddrV4,
    pub vsock_port: u32,
}

/// Checks Configure's relays before anything changes; the message names the bad entry.
pub fn validate(relays: &[VsockRelay]) -> Result<Vec<Relay>, String> {
    relays
        .iter()
        .map(|r| {
            let to_host = match Direction::from_i32(r.direction) {
                Some(Direction::ToHost) => true,
                Some(Direction::FromHost) => false,
                _ => return Err(format!("vsock relay {:?}: direction must be TO_HOST or FROM_HOST", r.guest_address)),
            };
            let guest: SocketAddrV4 =
                r.guest_address.parse().map_err(|_| format!("vsock relay {:?}: guest_address must be IPv4 address:port", r.guest_address))?;
            if r.vsock_port == 0 || guest.port() == 0 {
                return Err(format!("vsock relay {:?}: ports must not be 0", r.guest_address));
            }
            Ok(Relay { to_host, guest, vsock_port: r.vsock_port })
        })
        .collect()
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Brings up eth0 for the stand-in (once; again is harmless).
pub fn prepare_stand_in(stand_in: &TcpStandIn) -> io::Result<()> {
    crate::sys::interface_ipv4(crate::init::network::GUEST_INTERFACE, stand_in.guest.0, stand_in.guest.1)?;
    crate::sys::interface_up(crate::init::network::GUEST_INTERFACE, None)
}

/// Binds every relay's listener (so that a taken address fails Configure) and then serves them.
/// `system_control` allows adding a TO_HOST address outside 127/8 to lo.
pub async fn start(relays: &[Relay], stand_in: Option<&TcpStandIn>, system_control: bool) -> io::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for relay in relays {
        let started = if relay.to_host { start_to_host(relay, stand_in, system_control).await } else { start_from_host(relay, stand_in) };
        match started {
            Ok(task) => tasks.push(task),
            Err(e) => {
                tasks.iter().for_each(JoinHandle::abort);
                return Err(e);
            }
        }
    }
    Ok(tasks)
}

async fn start_to_host(relay: &Relay, stand_in: Option<&TcpStandIn>, system_control: bool) -> io::Result<JoinHandle<()>> {
    let address = *relay.guest.ip();
    if system_control && !address.is_loopback() {
        crate::sys::interface_ipv4(LOOPBACK_ALIAS, address, 32).map_err(|e| context(&format!("adding {} to lo", address), e))?;
    }
    let listener = TcpListener::bind(relay.guest).await.map_err(|e| context(&format!("listening on {}", relay.guest), e))?;
    let port = relay.vsock_port;
    let host = stand_in.map(|s| s.host);
    Ok(tokio::spawn(async move {
        loop {
            let (guest, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    crate::log!("relay: accepting on {}: {}", relay_name(port), e);
                    continue;
                }
            };
            tokio::spawn(async move {
                let upstream: io::Result<Box<dyn Stream>> = match host {
                    Some(host) => TcpStream::connect(SocketAddr::from((host, port as u16))).await.map(|s| Box::new(s) as Box<dyn Stream>),
                    None => tokio_vsock::VsockStream::connect(HOST_CID, port).await.map(|s| Box::new(s) as Box<dyn Stream>),
                };
                match upstream {
                    Ok(upstream) => pipe(Box::new(guest), upstream).await,
                    Err(e) => crate::log!("relay: connecting to host {}: {}", relay_name(port), e),
                }
            });
        }
    }))
}

fn start_from_host(relay: &Relay, stand_in: Option<&TcpStandIn>) -> io::Result<JoinHandle<()>> {
    let port = relay.vsock_port;
    let target = relay.guest;
    let what = |e| context(&format!("listening on {}", relay_name(port)), e);
    match stand_in {
        Some(stand_in) => {
            let std_listener = std::net::TcpListener::bind(SocketAddrV4::new(stand_in.guest.0, port as u16)).map_err(what)?;
            std_listener.set_nonblocking(true)?;
            let listener = TcpListener::from_std(std_listener)?;
            Ok(tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((host, _)) => forward(Box::new(host), target),
                        Err(e) => crate::log!("relay: accepting on {}: {}", relay_name(port), e),
                    }
                }
            }))
        }
        None => {
            let mut listener = tokio_vsock::VsockListener::bind(libc::VMADDR_CID_ANY, port).map_err(what)?;
            Ok(tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((host, _)) => forward(Box::new(host), target),
                        Err(e) => crate::log!("relay: accepting on {}: {}", relay_name(port), e),
                    }
                }
            }))
        }
    }
}

fn forward(host: Box<dyn Stream>, target: SocketAddrV4) {
    tokio::spawn(async move {
        match TcpStream::connect(target).await {
            Ok(guest) => pipe(host, Box::new(guest)).await,
            // The host side sees its connection close, as a refused TCP connection would look through a relay.
            Err(e) => crate::log!("relay: connecting to {}: {}", target, e),
        }
    });
}

async fn pipe(mut a: Box<dyn Stream>, mut b: Box<dyn Stream>) {
    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
}

fn relay_name(port: u32) -> String {
    format!("vsock port {}", port)
}

fn context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {}", what, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn relay(direction: Direction, address: &str, port: u32) -> VsockRelay {
        VsockRelay { direction: direction as i32, guest_address: address.into(), vsock_port: port }
    }

    #[test]
    fn validation_names_the_bad_relay() {
        assert!(validate(&[relay(Direction::Unspecified, "10.0.2.100:3128", 1025)]).unwrap_err().contains("direction"));
        assert!(validate(&[relay(Direction::ToHost, "proxy:3128", 1025)]).unwrap_err().contains("proxy:3128"));
        assert!(validate(&[relay(Direction::FromHost, "127.0.0.1:80", 0)]).unwrap_err().contains("0"));
        let ok = validate(&[relay(Direction::ToHost, "10.0.2.100:3128", 1025)]).unwrap();
        assert_eq!(ok, vec![Relay { to_host: true, guest: "10.0.2.100:3128".parse().unwrap(), vsock_port: 1025 }]);
    }

    #[test]
    fn stand_in_parsing() {
        let s = TcpStandIn::parse("10.0.2.15/24,10.0.2.101").unwrap();
        assert_eq!(s, TcpStandIn { guest: (Ipv4Addr::new(10, 0, 2, 15), 24), host: Ipv4Addr::new(10, 0, 2, 101) });
        assert!(TcpStandIn::parse("10.0.2.15/24").is_err());
        assert!(TcpStandIn::parse("10.0.2.15/24,host").is_err());
    }

    /// Both directions through the TCP stand-in on the host's loopback: bytes cross both ways and
    /// a refused target closes the relayed connection.
    #[tokio::test]
    async fn relays_carry_bytes_both_ways() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host_port = upstream.local_addr().unwrap().port() as u32;
        let stand_in = TcpStandIn { guest: (Ipv4Addr::LOCALHOST, 8), host: Ipv4Addr::LOCALHOST };
        let guest_free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let guest_addr: SocketAddrV4 = match guest_free.local_addr().unwrap() { SocketAddr::V4(a) => a, _ => unreachable!() };
        drop(guest_free);
        let relays = [Relay { to_host: true, guest: guest_addr, vsock_port: host_port }];
        let tasks = start(&relays, Some(&stand_in), false).await.unwrap();
        let echo = tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let mut client = TcpStream::connect(guest_addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        echo.await.unwrap();

        // From the host: the relay listens on the "vsock" port and connects to the guest's port.
        let service = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service_addr: SocketAddrV4 = match service.local_addr().unwrap() { SocketAddr::V4(a) => a, _ => unreachable!() };
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let vsock_port = free.local_addr().unwrap().port() as u32;
        drop(free);
        let from = start(&[Relay { to_host: false, guest: service_addr, vsock_port }], Some(&stand_in), false).await.unwrap();
        let served = tokio::spawn(async move {
            let (mut s, _) = service.accept().await.unwrap();
            s.write_all(b"pong").await.unwrap();
        });
        let mut host = TcpStream::connect(("127.0.0.1", vsock_port as u16)).await.unwrap();
        let mut got = Vec::new();
        host.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"pong");
        served.await.unwrap();
        tasks.iter().chain(from.iter()).for_each(JoinHandle::abort);
    }

    #[tokio::test]
    async fn a_taken_address_fails_the_start() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: SocketAddrV4 = match taken.local_addr().unwrap() { SocketAddr::V4(a) => a, _ => unreachable!() };
        let err = start(&[Relay { to_host: true, guest: addr, vsock_port: 1025 }], None, false).await.unwrap_err();
        assert!(err.to_string().contains(&addr.to_string()), "{}", err);
    }
}
