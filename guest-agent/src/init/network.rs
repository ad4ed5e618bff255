//! The guest's network from Configure: loopback always, eth0 when the daemon gave the VM a
//! network device. Set with the interface ioctls (no netlink code, no dependency on the image's
//! `ip` tool), and every failure is Configure's failure: a sandbox whose network is not what the
//! daemon reports must not become ready.

use std::io;
use std::net::Ipv4Addr;

use crate::proto::NetworkConfig;
use crate::sys;

/// The MTU range an IPv4 interface can take (RFC 791's minimum; the largest a frame length field holds).
const MIN_MTU_BYTES: u32 = 68;
const MAX_MTU_BYTES: u32 = 65535;

/// The interface Configure's network settings apply to.
pub const GUEST_INTERFACE: &str = "eth0";

/// An IPv4 address with its prefix length, from "a.b.c.d/n".
pub fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let (address, prefix) = text.split_once('/').ok_or_else(|| format!("address {:?} has no /prefix", text))?;
    let address: Ipv4Addr = address.parse().map_err(|_| format!("{:?} is not an IPv4 address", address))?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("prefix in {:?} must be 0..32", text))?;
    Ok((address, prefix))
}

/// Checks what `apply` would reject, before anything changes.
pub fn validate(network: &NetworkConfig) -> Result<(), String> {
    if !network.address_cidr.is_empty() {
        parse_cidr(&network.address_cidr)?;
    }
    if !network.gateway.is_empty() {
        network.gateway.parse::<Ipv4Addr>().map_err(|_| format!("gateway {:?} is not an IPv4 address", network.gateway))?;
    }
    if network.mtu_bytes != 0 && !(MIN_MTU_BYTES..=MAX_MTU_BYTES).contains(&network.mtu_bytes) {
        return Err(format!("mtu_bytes {} is outside {}..{}", network.mtu_bytes, MIN_MTU_BYTES, MAX_MTU_BYTES));
    }
    for server in &network.dns_servers {
        server.parse::<std::net::IpAddr>().map_err(|_| format!("DNS server {:?} is not an IP address", server))?;
    }
    Ok(())
}

/// Brings loopback up, and eth0 as `network` says.
pub fn apply(network: Option<&NetworkConfig>) -> io::Result<()> {
    sys::interface_up("lo", None).map_err(|e| context("bringing lo up", e))?;
    let network = match network {
        Some(network) => network,
        None => return Ok(()),
    };
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    // Without an address the VM has no network device (libkrun: vsock relays only), so eth0 stays alone.
    if network.address_cidr.is_empty() {
        return Ok(());
    }
    {
        let (address, prefix) = parse_cidr(&network.address_cidr).map_err(invalid)?;
        sys::interface_ipv4(GUEST_INTERFACE, address, prefix)
            .map_err(|e| context(&format!("setting {} on {}", network.address_cidr, GUEST_INTERFACE), e))?;
    }
    let mtu = if network.mtu_bytes == 0 { None } else { Some(network.mtu_bytes) };
    sys::interface_up(GUEST_INTERFACE, mtu).map_err(|e| context(&format!("bringing {} up", GUEST_INTERFACE), e))?;
    if !network.gateway.is_empty() {
        let gateway: Ipv4Addr = network.gateway.parse().map_err(|_| invalid(format!("bad gateway {:?}", network.gateway)))?;
        sys::default_route_ipv4(gateway).map_err(|e| context(&format!("adding the route via {}", gateway), e))?;
    }
    if !network.dns_servers.is_empty() {
        std::fs::write("/etc/resolv.conf", resolv_conf(&network.dns_servers)).map_err(|e| context("writing /etc/resolv.conf", e))?;
    }
    Ok(())
}

fn context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {}", what, e))
}

pub fn resolv_conf(servers: &[String]) -> String {
    servers.iter().map(|s| format!("nameserver {}\n", s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_lists_servers() {
        assert_eq!(resolv_conf(&["1.1.1.1".into(), "9.9.9.9".into()]), "nameserver 1.1.1.1\nnameserver 9.9.9.9\n");
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(parse_cidr("10.0.2.15/24"), Ok((Ipv4Addr::new(10, 0, 2, 15), 24)));
        assert!(parse_cidr("10.0.2.15").is_err());
        assert!(parse_cidr("10.0.2.15/33").is_err());
        assert!(parse_cidr("eth0/24").is_err());
    }

    #[test]
    fn validation_names_the_bad_field() {
        let bad = NetworkConfig { gateway: "nope".into(), ..Default::default() };
        assert!(validate(&bad).unwrap_err().contains("gateway"));
        let huge = NetworkConfig { mtu_bytes: u32::MAX, ..Default::default() };
        assert!(validate(&huge).unwrap_err().contains("mtu_bytes"));
        let good = NetworkConfig { address_cidr: "10.0.2.15/24".into(), mtu_bytes: 1500, ..Default::default() };
        assert_eq!(validate(&good), Ok(()));
    }
}
