package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Starts the sandbox manager's recovery once the state directory is locked, and runs its reaper on a timer. The
 * manager itself owns no timers, so a simulation can call {@code reapExpired} itself.
 */
@ApplicationScoped
public class SandboxSupervision {

    private static final Logger LOG = Logger.getLogger(SandboxSupervision.class);

    private ScheduledExecutorService reaper;

    void onStart(@Observes @Priority(20) StartupEvent event, SandboxManager manager, KelpieConfig config) {
        manager.recover();
        try {
            manager.startWarmPool(config.sandboxes().warmPoolSize(), config.sandboxes().warmPoolArch().orElse(""),
                    config.sandboxes().warmPoolOciImage().orElse(""));
        } catch (RuntimeException e) {
            LOG.errorf("no warm pool: %s", e.getMessage());
        }
        long periodMs = config.sandboxes().reapInterval().toMillis();
        reaper = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("kelpie-reaper").daemon().factory());
        reaper.scheduleWithFixedDelay(() -> {
            try {
                manager.reapExpired();
                manager.refillWarmPool();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                LOG.error("reaping expired sandboxes failed", e);
            }
        }, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }

    void onStop(@Observes ShutdownEvent event) {
        if (reaper != null) {
            reaper.shutdownNow();
        }
    }
}
