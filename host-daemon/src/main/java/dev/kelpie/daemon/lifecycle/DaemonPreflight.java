package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.api.server.ApiEndpoints;
import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.host.BackendPreference;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import org.jboss.logging.Logger;

/**
 * Runs before the API server binds: takes the state-directory lock, then prepares the socket paths. Binding removes
 * nothing, so removing only sockets nobody answers on, under the lock, keeps a second daemon from taking over.
 */
@ApplicationScoped
public class DaemonPreflight {

    private static final Logger LOG = Logger.getLogger(DaemonPreflight.class);

    private final KelpieConfig config;
    private StateDirectoryLock lock;

    @Inject
    public DaemonPreflight(KelpieConfig config) {
        this.config = config;
    }

    void onStart(@Observes @Priority(1) StartupEvent event) {
        try {
            var exposure = ApiExposure.problem(config.api());
            if (exposure.isPresent()) {
                throw new DaemonStartupException(exposure.get());
            }
            checkBackend();
            lock = StateDirectoryLock.acquire(config.stateDir());
            ApiEndpoints endpoints = ApiEndpoints.of(config.api());
            ApiSocketPath.prepare(endpoints.socket());
            ApiSocketPath.prepare(endpoints.metricsSocket(), "metrics socket", "kelpie.api.metrics-socket");
        } catch (DaemonStartupException e) {
            LOG.error("kelpied cannot start: " + e.getMessage());
            release();
            throw e;
        }
        LOG.infof("state directory %s locked by pid %d", config.stateDir(), ProcessHandle.current().pid());
    }

    /** A backend name that means nothing stops the start here, before anything binds, with the accepted names. */
    private void checkBackend() {
        try {
            BackendPreference.parse(config.backend());
            config.qemu().accelerator().ifPresent(Accelerator::fromConfig);
        } catch (IllegalArgumentException e) {
            throw new DaemonStartupException(e.getMessage());
        }
    }

    /** Released at shutdown by the JVM too; explicit release matters for tests that restart in one JVM. */
    @jakarta.annotation.PreDestroy
    void release() {
        if (lock != null) {
            try {
                lock.close();
            } catch (IOException e) {
                LOG.warn("releasing the state-directory lock failed", e);
            }
            lock = null;
        }
    }
}
