//! Network settings from Configure, applied with the image's `ip` tool (best effort: the agent
//! carries no netlink code).

use std::io;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::reaper::Reaper;
use crate::proto::NetworkConfig;

/// How long one `ip` command may take.
const IP_TIMEOUT_MS: u64 = 5000;

/// The interface Configure's network settings apply to.
pub const GUEST_INTERFACE: &str = "eth0";

pub async fn apply(network: &NetworkConfig, reaper: &Reaper) -> io::Result<()> {
    ip(reaper, &["link", "set", "lo", "up"]).await;
    if !network.address_cidr.is_empty() {
        ip(reaper, &["addr", "replace", &network.address_cidr, "dev", GUEST_INTERFACE]).await;
    }
    if network.mtu_bytes != 0 {
        ip(reaper, &["link", "set", GUEST_INTERFACE, "mtu", &network.mtu_bytes.to_string()]).await;
    }
    ip(reaper, &["link", "set", GUEST_INTERFACE, "up"]).await;
    if !network.gateway.is_empty() {
        ip(reaper, &["route", "replace", "default", "via", &network.gateway]).await;
    }
    if !network.dns_servers.is_empty() {
        std::fs::write("/etc/resolv.conf", resolv_conf(&network.dns_servers))?;
    }
    Ok(())
}

pub fn resolv_conf(servers: &[String]) -> String {
    servers.iter().map(|s| format!("nameserver {}\n", s)).collect()
}

/// Runs `ip` through the reaper (every child must: it waits for any pid).
pub async fn ip(reaper: &Reaper, args: &[&str]) {
    let mut command = Command::new("ip");
    command.args(args).stdin(Stdio::null());
    match reaper.spawn(&mut command) {
        Ok((_, exit)) => match tokio::time::timeout(Duration::from_millis(IP_TIMEOUT_MS), exit).await {
            Ok(Ok(reaped)) if reaped.exit_code() == Some(0) => {}
            Ok(Ok(reaped)) => crate::log!("ip {:?} failed: status {:#x}", args, reaped.status),
            _ => crate::log!("ip {:?}: no exit status", args),
        },
        Err(err) => crate::log!("ip {:?}: {}", args, err),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn resolv_conf_lists_servers() {
        assert_eq!(super::resolv_conf(&["1.1.1.1".into(), "9.9.9.9".into()]), "nameserver 1.1.1.1\nnameserver 9.9.9.9\n");
    }
}
