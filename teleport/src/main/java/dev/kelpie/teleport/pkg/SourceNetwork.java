package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * The network policy of the sandbox a package was taken from, as it was asked for: a restore applies it again (host
 * ports that were 0 are picked anew on the restoring host).
 *
 * @param mode {@code none} or {@code egress}
 * @param allow the egress allowlist entries
 */
public record SourceNetwork(@JsonProperty("mode") String mode, @JsonProperty("allow") List<String> allow,
        @JsonProperty("port_forwards") List<PublishedPort> portForwards) {

    /** No network: what packages written before networking existed mean. */
    public static final SourceNetwork NONE = new SourceNetwork("none", List.of(), List.of());

    public SourceNetwork {
        mode = mode == null ? "none" : mode;
        allow = allow == null ? List.of() : List.copyOf(allow);
        portForwards = portForwards == null ? List.of() : List.copyOf(portForwards);
    }

    /** A host loopback port (0: any) forwarded to a guest port. */
    public record PublishedPort(@JsonProperty("host_port") int hostPort, @JsonProperty("guest_port") int guestPort) {}
}
