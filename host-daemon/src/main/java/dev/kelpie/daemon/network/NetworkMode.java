package dev.kelpie.daemon.network;

/** What a sandbox's guest may reach on its own initiative. */
public enum NetworkMode {
    /** Loopback only: no outbound path at all. */
    NONE,
    /** Outbound TCP through the daemon's egress proxy, limited by the allowlist. */
    EGRESS
}
