package dev.kelpie.daemon.teleport;

import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.network.EgressAllowlist;
import dev.kelpie.daemon.network.HostAddresses;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import dev.kelpie.daemon.network.PortForward;
import dev.kelpie.teleport.pkg.SourceNetwork;
import java.util.List;
import java.util.Locale;

/** A sandbox's network policy in a package's manifest and back. */
final class PackagedNetwork {

    private PackagedNetwork() {}

    static SourceNetwork toSource(NetworkPolicy policy) {
        return new SourceNetwork(policy.mode().name().toLowerCase(Locale.ROOT), policy.allow(), policy.forwards().stream()
                .map(f -> new SourceNetwork.PublishedPort(f.hostPort(), f.guestPort())).toList());
    }

    /**
     * A package's allowlist never opens the host's own services: loopback, link-local (cloud metadata) and this host's
     * addresses are for the API caller's own policy only.
     *
     * @throws InvalidRequestException naming the entries that do
     */
    static void refuseHostInternalEntries(NetworkPolicy packaged) {
        List<String> internal;
        try {
            internal = EgressAllowlist.parse(packaged.allow()).hostInternalEntries(HostAddresses.current()::contains);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("the package's network policy: " + e.getMessage(), e);
        }
        if (!internal.isEmpty()) {
            throw new InvalidRequestException("the package's network policy allows " + String.join(", ", internal)
                    + ": a package may not open the host's own addresses; pass them in spec_overrides.network if this"
                    + " sandbox should reach them");
        }
    }

    /** @throws InvalidRequestException when the manifest's policy is not one this daemon accepts */
    static NetworkPolicy toPolicy(SourceNetwork source) {
        NetworkMode mode = switch (source.mode()) {
            case "none" -> NetworkMode.NONE;
            case "egress" -> NetworkMode.EGRESS;
            default -> throw new InvalidRequestException("the package's network mode '" + source.mode()
                    + "' is not one this daemon knows (none, egress)");
        };
        try {
            return new NetworkPolicy(mode, source.allow(), source.portForwards().stream()
                    .map(p -> new PortForward(p.hostPort(), p.guestPort())).toList());
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("the package's network policy: " + e.getMessage(), e);
        }
    }
}
