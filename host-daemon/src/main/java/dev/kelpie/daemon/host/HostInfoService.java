package dev.kelpie.daemon.host;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.hypervisor.probe.ProbeResult;
import dev.kelpie.daemon.images.ImageSource;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Knows the host and probes the hypervisor backends once at startup, off the request path: a boot probe can take
 * as long as its timeout, and {@code Host.Info} must answer at once (reporting "probe running" meanwhile).
 */
@ApplicationScoped
public class HostInfoService {

    private static final Logger LOG = Logger.getLogger(HostInfoService.class);

    private final HostPlatform platform;
    private final BackendPreference preference;
    private final String daemonVersion;
    private final Path stateDir;
    private final Supplier<List<BackendReport>> probe;
    private volatile List<BackendReport> backends = List.of(
            new BackendReport("libkrun", ProbeResult.untested("probe running"), "", "", List.of()),
            new BackendReport("qemu", ProbeResult.untested("probe running"), "", "", List.of()));
    private Thread probeThread;
    private final CompletableFuture<Void> probed = new CompletableFuture<>();

    @Inject
    public HostInfoService(KelpieConfig config, ObjectMapper json, ImageSource images,
            @ConfigProperty(name = "quarkus.application.version", defaultValue = "0.0.0") String daemonVersion) {
        this(HostPlatform.current(), BackendPreference.parse(config.backend()), daemonVersion, config.stateDir(),
                new BackendProbes(config, json, images, HostPlatform.current()));
    }

    /** @param probe the backends' probes, run once on a thread of their own by {@link #startProbe} */
    public HostInfoService(HostPlatform platform, BackendPreference preference, String daemonVersion, Path stateDir,
            Supplier<List<BackendReport>> probe) {
        this.platform = platform;
        this.preference = preference;
        this.daemonVersion = daemonVersion;
        this.stateDir = stateDir;
        this.probe = probe;
    }

    /** Runs after {@code DaemonPreflight} (priority 1) has checked the configuration. */
    void onStart(@Observes @Priority(10) StartupEvent event) {
        startProbe();
    }

    public void startProbe() {
        probeThread = Thread.ofPlatform().name("kelpie-backend-probe").daemon().start(this::probeBackends);
    }

    private void probeBackends() {
        try {
            backends = probe.get();
            LOG.infof("backend probe done: %s", BackendChoice.from(backends, preference).reason());
        } catch (RuntimeException e) {
            LOG.errorf(e, "backend probe failed; no backend is chosen");
        } finally {
            // Host.Info and the backend's waiters must learn that the probe is over, however it ended.
            probed.complete(null);
        }
    }

    /**
     * Whether the backend new sandboxes get is known now: it was configured, or the probe has chosen it. Until then
     * whatever depends on it (the backend's network support) would wait for the probe, which a call may not.
     */
    public boolean backendKnown() {
        return preference != BackendPreference.AUTO || probed.isDone();
    }

    /** The backend choice once probing is done; waits up to {@code timeout} for a probe still running. */
    public BackendChoice awaitChoice(Duration timeout) throws InterruptedException {
        try {
            probed.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            // Report what is known: the choice says "probe running" in its reason.
        }
        return report().choice();
    }

    /** The accelerator QEMU uses: the best its probe proved, whichever backend serves new sandboxes. */
    public Optional<Accelerator> qemuAccelerator() {
        return BackendChoice.qemuAccelerator(backends);
    }

    /** Interrupting the probe makes it kill any VM it booted, so no qemu outlives the daemon. */
    @PreDestroy
    void stopProbe() throws InterruptedException {
        if (probeThread != null && probeThread.isAlive()) {
            probeThread.interrupt();
            probeThread.join(10_000);
        }
    }

    public HostReport report() {
        List<BackendReport> current = backends;
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        return new HostReport(daemonVersion, platform.os(), platform.arch(), Runtime.getRuntime().availableProcessors(),
                os.getTotalMemorySize() / (1024 * 1024), current, BackendChoice.from(current, preference), stateDir);
    }
}
