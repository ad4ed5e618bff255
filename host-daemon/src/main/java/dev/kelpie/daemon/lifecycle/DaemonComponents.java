package dev.kelpie.daemon.lifecycle;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.agent.AgentDialer;
import dev.kelpie.daemon.agent.UnixSocketChannels;
import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.host.BackendChoice;
import dev.kelpie.daemon.host.HostInfoService;
import dev.kelpie.daemon.agent.AgentShutdown;
import dev.kelpie.daemon.host.BackendPreference;
import dev.kelpie.daemon.hypervisor.BackendSwitch;
import dev.kelpie.daemon.hypervisor.GuestArchs;
import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.libkrun.LibkrunHypervisor;
import dev.kelpie.daemon.hypervisor.libkrun.LibkrunSettings;
import dev.kelpie.daemon.hypervisor.libkrun.RunnerLauncher;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import java.util.Map;
import java.util.Optional;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.qemu.QemuHypervisor;
import dev.kelpie.daemon.hypervisor.qemu.QemuRamFiles;
import dev.kelpie.daemon.images.ImageSource;
import dev.kelpie.daemon.images.oci.OciBootSource;
import dev.kelpie.daemon.network.EgressProxy;
import dev.kelpie.daemon.sandboxes.DirectorySandboxStore;
import dev.kelpie.daemon.sandboxes.SandboxLimits;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxSettings;
import dev.kelpie.daemon.stats.HostResources;
import dev.kelpie.daemon.stats.SandboxStatsSampler;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.lang.management.ManagementFactory;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/** Wires the daemon's parts from its configuration: the one place that knows which implementations serve. */
@ApplicationScoped
public class DaemonComponents {

    private static final int SANDBOX_ID_BYTES = 6;
    /** A dying qemu's sockets close before its parent reaps it; this covers the gap on a loaded host. */
    private static final Duration VM_EXIT_VISIBLE_WITHIN = Duration.ofSeconds(2);
    private final SecureRandom random = new SecureRandom();

    @Produces
    @Singleton
    UnixSocketChannels agentChannels() {
        return new UnixSocketChannels();
    }

    @Produces
    @Singleton
    HostResources hostResources() {
        return HostResources.forThisHost();
    }

    @Produces
    @Singleton
    SandboxStatsSampler statsSampler(SandboxManager manager, HostResources resources) {
        return new SandboxStatsSampler(manager, resources, Clock.systemUTC());
    }

    @Produces
    @Singleton
    SandboxManager sandboxManager(KelpieConfig config, ObjectMapper json, ImageSource images, HostInfoService host,
            UnixSocketChannels channels, Vertx vertx, ApiServing api, HostResources resources, OciBootSource oci) {
        KelpieConfig.Sandboxes s = config.sandboxes();
        HostPlatform platform = HostPlatform.current();
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long hostMemoryMib = os.getTotalMemorySize() / (1024 * 1024);
        SandboxLimits limits = new SandboxLimits(s.maxSandboxes(), s.memoryBudgetMib().orElse(hostMemoryMib * 3 / 4),
                s.maxVcpuCount().orElse(Runtime.getRuntime().availableProcessors()), s.maxMemoryMib(), s.maxDiskSizeMib());
        SandboxSettings settings = new SandboxSettings(guestArchs(s, platform), s.defaultVcpuCount(), s.defaultMemoryMib(),
                s.agentReadyTimeout(), s.stopGrace(), s.maxConcurrentBoots(), s.guestReservedMib(), s.pidsLimit(),
                VM_EXIT_VISIBLE_WITHIN);
        AgentDialer dialer = new AgentDialer(channels, d -> Thread.sleep(d));
        QemuHypervisor qemu = new QemuHypervisor(platform.arch(), arch -> qemuBinary(config, platform, arch),
                qemuAccelerator(config, host), json, new QemuRamFiles(config.qemu().ramDir()
                        .orElseGet(() -> QemuRamFiles.defaultDir(config.stateDir()))));
        KelpieConfig.Libkrun k = config.libkrun();
        LibkrunHypervisor libkrun = new LibkrunHypervisor(LibkrunSettings.of(k.library(), k.libraryPath(), k.logLevel(), platform),
                config.libkrun().runner().map(RunnerLauncher::nativeRunner).orElseGet(RunnerLauncher::javaRunner),
                new AgentShutdown(dialer), json, platform.isMacOs(), platform.arch());
        Hypervisor hypervisor = new BackendSwitch(Map.of(qemu.name(), qemu, libkrun.name(), libkrun),
                () -> selectedBackend(config, host));
        Supplier<String> ids = () -> {
            byte[] bytes = new byte[SANDBOX_ID_BYTES];
            random.nextBytes(bytes);
            return HexFormat.of().formatHex(bytes);
        };
        return new SandboxManager(hypervisor, images, dialer, new DirectorySandboxStore(config.stateDir(), json),
                Clock.systemUTC(), limits, settings, ids, Executors.newVirtualThreadPerTaskExecutor(),
                new EgressProxy(vertx, api::tcpPorts), resources.cpuTime(), oci);
    }

    void closeSandboxManager(@Disposes SandboxManager manager) {
        manager.close();
    }

    void closeAgentChannels(@Disposes UnixSocketChannels channels) {
        channels.close();
    }

    private static GuestArchs guestArchs(KelpieConfig.Sandboxes s, HostPlatform platform) {
        String defaultArch = s.defaultArch().orElse(platform.arch());
        if (!GuestArchs.SUPPORTED.contains(defaultArch)) {
            throw new DaemonStartupException("kelpie.sandboxes.default-arch '" + defaultArch
                    + "' is not a guest architecture (supported: " + String.join(", ", GuestArchs.SUPPORTED) + ")");
        }
        return new GuestArchs(platform.arch(), defaultArch);
    }

    /**
     * The configured binary runs the host's arch; the other arch's binary sits beside it (a qemu install has every
     * system emulator in one directory), else comes from PATH.
     */
    private static String qemuBinary(KelpieConfig config, HostPlatform platform, String arch) {
        String name = "qemu-system-" + arch;
        return config.qemu().binary().map(b -> arch.equals(platform.arch()) ? b
                : java.nio.file.Path.of(b).resolveSibling(name).toString()).orElse(name);
    }

    /** The configured accelerator, else the best one the startup probe proved (waiting for a probe still running). */
    private static Supplier<Accelerator> qemuAccelerator(KelpieConfig config, HostInfoService host) {
        return () -> {
            if (config.qemu().accelerator().isPresent()) {
                return Accelerator.fromConfig(config.qemu().accelerator().get());
            }
            BackendChoice choice = awaitChoice(config, host);
            return host.qemuAccelerator().orElseThrow(() -> new VmException("no accelerator to run VMs: " + choice.reason()));
        };
    }

    /** The backend new VMs use: the configured one, or the probe's pick (waiting for a probe still running). */
    private static Optional<String> selectedBackend(KelpieConfig config, HostInfoService host) {
        BackendPreference preference = BackendPreference.parse(config.backend());
        if (preference != BackendPreference.AUTO) {
            return Optional.of(preference.configValue());
        }
        return awaitChoice(config, host).backend();
    }

    private static BackendChoice awaitChoice(KelpieConfig config, HostInfoService host) {
        try {
            return host.awaitChoice(config.probe().bootTimeout().multipliedBy(3));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmException("interrupted while waiting for the backend probe");
        }
    }
}
