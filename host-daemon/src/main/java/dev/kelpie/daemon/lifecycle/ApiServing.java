package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.api.ApiAccess;
import dev.kelpie.daemon.api.server.ApiEndpoints;
import dev.kelpie.daemon.api.server.ApiServer;
import dev.kelpie.daemon.api.server.DaemonServices;
import dev.kelpie.daemon.config.KelpieConfig;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Serves the API once everything else has started (the sockets were prepared by DaemonPreflight), and stops it
 * first at shutdown, giving open calls {@code quarkus.shutdown.timeout} to finish before they are cancelled.
 */
@ApplicationScoped
public class ApiServing {

    /** After every other startup observer: the API answers only once the daemon behind it is complete. */
    static final int SERVE_LAST = 10_000;
    /** Before the components the services use are disposed of. */
    static final int STOP_FIRST = 10;
    private static final Logger LOG = Logger.getLogger(ApiServing.class);

    private final KelpieConfig config;
    private final Duration grace;
    private final Event<ApiListening> listening;
    private volatile ApiServer server;

    @Inject
    public ApiServing(KelpieConfig config, Event<ApiListening> listening,
            @ConfigProperty(name = "quarkus.shutdown.timeout") Optional<Duration> grace) {
        this.config = config;
        this.listening = listening;
        this.grace = grace.orElse(Duration.ZERO);
    }

    void onStart(@Observes @Priority(SERVE_LAST) StartupEvent event, DaemonServices services, ApiAccess access,
            MeterRegistry meters, PrometheusMeterRegistry prometheus, UnixSocketChannels agentChannels) {
        ApiEndpoints endpoints = ApiEndpoints.of(config.api());
        try {
            server = ApiServer.start(endpoints, config.api().tls(), services.services(), access,
                    meters, prometheus, agentChannels.eventLoops());
        } catch (IOException | RuntimeException e) {
            LOG.error("kelpied cannot start: " + e.getMessage());
            throw new DaemonStartupException(e.getMessage(), e);
        }
        ApiSocketPermissions.restrict(endpoints.socket());
        ApiSocketPermissions.restrict(endpoints.metricsSocket());
        LOG.infof("Listening on: unix:%s (gRPC), unix:%s (metrics)%s", endpoints.socket(), endpoints.metricsSocket(),
                endpoints.tcp().isEmpty() ? "" : ", " + tcp(server.grpcAddresses().getLast()) + " (gRPC"
                        + (config.api().tls().cert().isPresent() ? " over TLS" : "") + "), "
                        + tcp(server.metricsAddresses().getLast()) + " (metrics)");
        listening.fireAsync(new ApiListening(endpoints));
    }

    /**
     * The TCP ports the API and its metrics listen on: those configured from the start (so a guest can never race the
     * bind), and those bound once serving (port 0 picks one).
     */
    public Set<Integer> tcpPorts() {
        if (!config.api().tcp().enabled()) {
            return Set.of();
        }
        Set<Integer> ports = new HashSet<>();
        for (int configured : List.of(config.api().tcp().port(), config.api().tcp().metricsPort())) {
            if (configured != 0) {
                ports.add(configured);
            }
        }
        ApiServer serving = server;
        if (serving != null) {
            java.util.stream.Stream.concat(serving.grpcAddresses().stream(), serving.metricsAddresses().stream())
                    .filter(java.net.InetSocketAddress.class::isInstance)
                    .forEach(address -> ports.add(((java.net.InetSocketAddress) address).getPort()));
        }
        return ports;
    }

    void onStop(@Observes @Priority(STOP_FIRST) ShutdownEvent event) {
        if (server != null) {
            server.stop(grace);
            server = null;
        }
    }

    private static String tcp(java.net.SocketAddress address) {
        return address instanceof java.net.InetSocketAddress inet
                ? "tcp:" + inet.getAddress().getHostAddress() + ":" + inet.getPort() : address.toString();
    }
}
