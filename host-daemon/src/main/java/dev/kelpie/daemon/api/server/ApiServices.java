package dev.kelpie.daemon.api.server;

import io.grpc.BindableService;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionService;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything the API serves: the daemon's services, the standard health service and server reflection (v1, and
 * v1alpha for clients older than grpcurl 1.8.8), each behind the same interceptors. Every listener gets definitions
 * of its own, from the same service objects.
 */
final class ApiServices {

    private final List<BindableService> daemonServices;
    private final List<ServerInterceptor> interceptors;
    private final HealthStatusManager health = new HealthStatusManager();

    /**
     * @param interceptors in the order they see a call: the first decides before the others run
     */
    ApiServices(List<BindableService> daemonServices, List<ServerInterceptor> interceptors) {
        this.daemonServices = List.copyOf(daemonServices);
        this.interceptors = List.copyOf(interceptors);
    }

    /** The definitions for one listener. */
    @SuppressWarnings("deprecation") // ProtoReflectionService is v1alpha, kept for older clients.
    List<ServerServiceDefinition> definitions() {
        List<BindableService> services = new ArrayList<>(daemonServices);
        services.add(health.getHealthService());
        services.add(ProtoReflectionServiceV1.newInstance());
        services.add(ProtoReflectionService.newInstance());
        // ServerInterceptors.intercept runs the last interceptor given first.
        List<ServerInterceptor> outermostLast = new ArrayList<>(interceptors).reversed();
        return services.stream().map(s -> ServerInterceptors.intercept(s, outermostLast)).toList();
    }

    /**
     * Health as it was under Quarkus: the server ("") and each daemon service SERVING while the API listens. A
     * service it does not know is NOT_FOUND (the health protocol's answer; Quarkus said UNKNOWN).
     */
    void serving() {
        health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
        for (BindableService service : daemonServices) {
            health.setStatus(service.bindService().getServiceDescriptor().getName(), ServingStatus.SERVING);
        }
    }

    /** At shutdown: every status NOT_SERVING for good, so Watch clients learn the daemon is going away. */
    void stopping() {
        health.enterTerminalState();
    }
}
