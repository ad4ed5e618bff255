package dev.kelpie.daemon.api.server;

import io.grpc.BindableService;
import java.util.List;

/**
 * The daemon's own gRPC services. They are plain objects, not CDI beans: Quarkus's gRPC extension (kept for code
 * generation) claims every BindableService bean for a server of its own.
 */
public record DaemonServices(List<BindableService> services) {

    public DaemonServices {
        services = List.copyOf(services);
    }
}
