package dev.kelpie.daemon.network;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What a sandbox's guest can reach and what reaches it, as the client asked (host ports may still be 0). Valid by
 * construction: a bad allow entry or port fails here, before anything boots.
 *
 * @param allow allowlist entries as given (see {@link EgressAllowlist}); only meaningful in {@link NetworkMode#EGRESS}
 */
public record NetworkPolicy(NetworkMode mode, List<String> allow, List<PortForward> forwards) {

    /** The default: loopback only, nothing forwarded, no network device in the VM. */
    public static final NetworkPolicy NONE = new NetworkPolicy(NetworkMode.NONE, List.of(), List.of());
    static final int MAX_ALLOW_ENTRIES = 256;
    static final int MAX_FORWARDS = 64;

    public NetworkPolicy {
        mode = mode == null ? NetworkMode.NONE : mode;
        allow = allow == null ? List.of() : List.copyOf(allow);
        forwards = forwards == null ? List.of() : List.copyOf(forwards);
        if (mode == NetworkMode.NONE && !allow.isEmpty()) {
            throw new IllegalArgumentException("an allowlist needs network mode egress (mode none has no outbound path)");
        }
        if (allow.size() > MAX_ALLOW_ENTRIES) {
            throw new IllegalArgumentException(allow.size() + " allow entries; at most " + MAX_ALLOW_ENTRIES);
        }
        EgressAllowlist.parse(allow);
        if (forwards.size() > MAX_FORWARDS) {
            throw new IllegalArgumentException(forwards.size() + " port forwards; at most " + MAX_FORWARDS);
        }
        Set<Integer> hostPorts = new HashSet<>();
        Set<Integer> guestPorts = new HashSet<>();
        for (PortForward f : forwards) {
            if (f.hostPort() != 0 && !hostPorts.add(f.hostPort())) {
                throw new IllegalArgumentException("host port " + f.hostPort() + " is forwarded twice");
            }
            if (!guestPorts.add(f.guestPort())) {
                throw new IllegalArgumentException("guest port " + f.guestPort() + " is forwarded twice");
            }
        }
    }

    /** The VM needs a network device: for the egress path or for forwarded ports. */
    public boolean needsDevice() {
        return mode == NetworkMode.EGRESS || !forwards.isEmpty();
    }

    public EgressAllowlist allowlist() {
        return EgressAllowlist.parse(allow);
    }

    /** The same policy with these forwards (e.g. once host ports are picked). */
    public NetworkPolicy withForwards(List<PortForward> resolved) {
        return new NetworkPolicy(mode, allow, resolved);
    }

    /** What the guest can reach, in words, for Sandboxes.Get and the CLI. */
    public String reachability() {
        String out = switch (mode) {
            case NONE -> "no outbound network (loopback only)";
            case EGRESS -> allow.isEmpty()
                    ? "outbound TCP to public addresses (not private or host-internal ones) through the daemon's egress proxy"
                    : "outbound TCP through the daemon's egress proxy to " + String.join(", ", allow) + " only";
        };
        if (forwards.isEmpty()) {
            return out + "; no ports published";
        }
        return out + "; published: " + String.join(", ", forwards.stream().map(PortForward::toString).toList())
                + " (host loopback only)";
    }
}
