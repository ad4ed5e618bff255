package dev.kelpie.daemon.host;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.config.KelpieConfig;
import dev.kelpie.daemon.hypervisor.libkrun.LibkrunSettings;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import dev.kelpie.daemon.hypervisor.probe.CommandRunner;
import dev.kelpie.daemon.hypervisor.probe.HostBootId;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.hypervisor.probe.KernelBootProbe;
import dev.kelpie.daemon.hypervisor.probe.LibkrunProbe;
import dev.kelpie.daemon.hypervisor.probe.ProbeCache;
import dev.kelpie.daemon.hypervisor.probe.QemuProbe;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageSource;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * The configured probes of both backends, libkrun first: QEMU's boots a kernel with each accelerator (as long as its
 * boot timeout each), and libkrun's verdict builds on the hardware accelerator QEMU proved.
 */
final class BackendProbes implements Supplier<List<BackendReport>> {

    private static final Logger LOG = Logger.getLogger(BackendProbes.class);
    private static final Path DEV_KVM = Path.of("/dev/kvm");

    private final KelpieConfig config;
    private final ObjectMapper json;
    private final ImageSource images;
    private final HostPlatform platform;

    BackendProbes(KelpieConfig config, ObjectMapper json, ImageSource images, HostPlatform platform) {
        this.config = config;
        this.json = json;
        this.images = images;
        this.platform = platform;
    }

    @Override
    public List<BackendReport> get() {
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
        return List.of(libkrunReport, qemuReport);
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
}
