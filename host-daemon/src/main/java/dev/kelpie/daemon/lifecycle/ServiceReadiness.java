package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.config.KelpieConfig;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.ManagedChannel;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.event.ObservesAsync;
import jakarta.inject.Inject;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Tells systemd ({@code Type=notify}) the daemon is ready — only after its own health check answered SERVING over
 * the API socket, so a unit ordered after kelpied finds an API that answers — and that it is stopping.
 */
@ApplicationScoped
public class ServiceReadiness {

    private static final Logger LOG = Logger.getLogger(ServiceReadiness.class);
    private static final Duration SELF_CHECK_TIMEOUT = Duration.ofSeconds(30);
    private static final long SELF_CHECK_RETRY_MS = 100;

    private final KelpieConfig config;
    private final Optional<SystemdNotify> systemd;

    @Inject
    public ServiceReadiness(KelpieConfig config) {
        this.config = config;
        this.systemd = SystemdNotify.fromEnvironment(System.getenv("NOTIFY_SOCKET"));
    }

    void onListening(@ObservesAsync ApiListening event) {
        if (systemd.isEmpty()) {
            return;
        }
        try {
            awaitServing();
            notifySystemd("READY=1\nSTATUS=serving on " + config.api().socket() + "\nMAINPID="
                    + ProcessHandle.current().pid());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.errorf("the API did not answer its own health check, so systemd is not told READY: %s", e.getMessage());
        }
    }

    /** Before the API server's grace period: systemd knows the daemon is stopping while calls finish. */
    void onStop(@Observes @Priority(ApiServing.STOP_FIRST - 1) ShutdownEvent event) {
        notifySystemd("STOPPING=1");
    }

    private void awaitServing() throws InterruptedException {
        long deadline = System.nanoTime() + SELF_CHECK_TIMEOUT.toNanos();
        try (UnixSocketChannels channels = new UnixSocketChannels()) {
            ManagedChannel channel = channels.open(config.api().socket());
            try {
                while (true) {
                    try {
                        ServingStatus status = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                                .check(HealthCheckRequest.getDefaultInstance()).getStatus();
                        if (status == ServingStatus.SERVING) {
                            return;
                        }
                    } catch (RuntimeException e) {
                        if (System.nanoTime() > deadline) {
                            throw e;
                        }
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("health is not SERVING after " + SELF_CHECK_TIMEOUT.toSeconds() + " s");
                    }
                    Thread.sleep(SELF_CHECK_RETRY_MS);
                }
            } finally {
                channel.shutdownNow();
            }
        }
    }

    private void notifySystemd(String state) {
        systemd.ifPresent(s -> {
            try {
                s.send(state);
            } catch (IOException e) {
                LOG.warnf("cannot notify systemd: %s", e.getMessage());
            }
        });
    }
}
