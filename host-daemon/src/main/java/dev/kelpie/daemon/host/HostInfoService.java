package dev.kelpie.daemon.host;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import dev.kelpie.daemon.hypervisor.probe.CommandRunner;
import dev.kelpie.daemon.hypervisor.probe.HostBootId;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.hypervisor.probe.KernelBootProbe;
import dev.kelpie.daemon.hypervisor.libkrun.LibkrunSettings;
import dev.kelpie.daemon.hypervisor.probe.LibkrunProbe;
import dev.kelpie.daemon.hypervisor.probe.ProbeCache;
import dev.kelpie.daemon.hypervisor.probe.ProbeResult;
import dev.kelpie.daemon.hypervisor.probe.QemuProbe;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.lang.management.ManagementFactory;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageSource;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Knows the host and probes the hypervisor backends once at startup, off the request path: a boot probe can take
 * as long as its timeout, and {@code Host.Info} must answer at once (reporting "probe running" meanwhile).
 */
@ApplicationScoped
public class HostInfoService {

    private static final Logger LOG = Logger.getLogger(HostInfoService.class);
    private static final Path DEV_KVM = Path.of("/dev/kvm");

    private final KelpieConfig config;
    private final ObjectMapper json;
    private final String daemonVersion;
    private final HostPlatform platform = HostPlatform.current();
    private volatile List<BackendReport> backends = List.of(
            new BackendReport("libkrun", ProbeResult.untested("probe running"), "", "", List.of()),
            new BackendReport("qemu", ProbeResult.untested("probe running"), "", "", List.of()));
    private Thread probeThread;
    private final CompletableFuture<Void> probed = new CompletableFuture<>();
    private final ImageSource images;
    private final BackendPreference preference;

    @Inject
    public HostInfoService(KelpieConfig config, ObjectMapper json, ImageSource images,
            @ConfigProperty(name = "quarkus.application.version", defaultValue = "0.0.0") String daemonVersion) {
        this.config = config;
        this.images = images;
        this.json = json;
        this.daemonVersion = daemonVersion;
        this.preference = BackendPreference.parse(config.backend());
    }

    /** Runs after {@code DaemonPreflight} (priority 1) has checked the configuration. */
    void onStart(@Observes @Priority(10) StartupEvent event) {
        probeThread = Thread.ofPlatform().name("kelpie-backend-probe").daemon().start(this::probeBackends);
    }

    private void probeBackends() {
        CommandRunner commands = new CommandRunner();
        QemuProbe qemu = new QemuProbe(commands, new KernelBootProbe(config.probe().bootTimeout()),
                new ProbeCache(config.probe().cacheDir(), json, HostBootId.current(platform, commands)), platform, DEV_KVM);
        BackendReport qemuReport = qemu.probe(config.qemu().binary(), config.probe().kernel().or(this::newestImageKernel),
                config.qemu().accelerator().map(Accelerator::fromConfig));
        Accelerator hardware = platform.isMacOs() ? Accelerator.HVF : Accelerator.KVM;
        KelpieConfig.Libkrun k = config.libkrun();
        LibkrunSettings libkrun = LibkrunSettings.of(k.library(), k.libraryPath(), k.logLevel(), platform);
        BackendReport libkrunReport = new LibkrunProbe(platform).probe(libkrun.library(), k.runner().isPresent(),
                qemuReport.accelerator(hardware));
        backends = List.of(libkrunReport, qemuReport);
        probed.complete(null);
        LOG.infof("backend probe done: %s", BackendChoice.from(backends, preference).reason());
    }

    /** Without a configured probe kernel, the kernel of the newest local image proves the accelerators. */
    private Optional<Path> newestImageKernel() {
        try {
            return images.list().stream().filter(i -> i.arch().equals(platform.arch())).findFirst()
                    .map(BootImage::kernel);
        } catch (RuntimeException e) {
            LOG.warnf("no image kernel to probe accelerators with: %s", e.getMessage());
            return Optional.empty();
        }
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
                os.getTotalMemorySize() / (1024 * 1024), current, BackendChoice.from(current, preference), config.stateDir());
    }
}
