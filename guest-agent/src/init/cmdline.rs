//! Settings the image passes on the kernel command line (kept short: aarch64 allows 2 KiB).

use crate::transport::ListenAddr;

/// Options read from /proc/cmdline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// `kelpie.agent.listen=vsock:1024,serial:/dev/virtio-ports/kelpie.agent`
    pub listen: Vec<ListenAddr>,
    /// `kelpie.disk=/dev/vdb`: the per-sandbox writable disk (default /dev/vdb when present).
    pub disk: Option<String>,
    /// `kelpie.disk.fstype=ext4`
    pub disk_fstype: Option<String>,
    /// `kelpie.overlay=0` keeps the root as the kernel mounted it (a writable developer image).
    pub no_overlay: bool,
    /// `kelpie.vsock.tcp=10.0.2.15/24,10.0.2.101`: the VMM has no vsock; relays use TCP (see `relay`).
    pub vsock_stand_in: Option<crate::relay::TcpStandIn>,
}

/// Parses the kernel command line; unknown and malformed words are ignored (logged by the caller).
pub fn parse(cmdline: &str) -> (BootOptions, Vec<String>) {
    let mut options = BootOptions::default();
    let mut problems = Vec::new();
    for word in cmdline.split_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some(kv) => kv,
            None => continue,
        };
        match key {
            "kelpie.agent.listen" => {
                for addr in value.split(',').filter(|a| !a.is_empty()) {
                    match ListenAddr::parse(addr) {
                        Ok(addr) => options.listen.push(addr),
                        Err(err) => problems.push(err),
                    }
                }
            }
            "kelpie.disk" => options.disk = Some(value.to_string()).filter(|v| !v.is_empty()),
            "kelpie.disk.fstype" => options.disk_fstype = Some(value.to_string()).filter(|v| !v.is_empty()),
            "kelpie.overlay" => options.no_overlay = value == "0" || value == "off",
            "kelpie.vsock.tcp" => match crate::relay::TcpStandIn::parse(value) {
                Ok(stand_in) => options.vsock_stand_in = Some(stand_in),
                Err(err) => problems.push(err),
            },
            _ => {}
        }
    }
    (options, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kelpie_words() {
        let (opts, problems) = parse(
            "console=ttyS0 root=/dev/vda ro kelpie.agent.listen=vsock:1024,serial:/dev/virtio-ports/kelpie.agent,bogus kelpie.disk=/dev/vdc kelpie.overlay=0 quiet",
        );
        assert_eq!(
            opts.listen,
            vec![ListenAddr::Vsock(1024), ListenAddr::Serial("/dev/virtio-ports/kelpie.agent".into())]
        );
        assert_eq!(opts.disk.as_deref(), Some("/dev/vdc"));
        assert!(opts.no_overlay);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn defaults_when_absent() {
        let (opts, problems) = parse("console=hvc0");
        assert_eq!(opts, BootOptions::default());
        assert!(problems.is_empty());
    }
}
