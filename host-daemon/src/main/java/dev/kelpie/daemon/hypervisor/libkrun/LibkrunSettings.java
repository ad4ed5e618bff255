package dev.kelpie.daemon.hypervisor.libkrun;

import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.runner.Libkrun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * How the libkrun backend runs VMs on this host.
 *
 * @param library libkrun's path or loader name, e.g. {@code libkrun.so.1}
 * @param libraryPath directories the runner's loader searches first (libkrunfw beside a Homebrew libkrun)
 * @param logLevel libkrun's log level, 0 (off) to 5 (trace), written to each VM's {@code runner.log}
 * @param accelerator what libkrun uses here: KVM on Linux, HVF on macOS
 * @param kvmDevice the device whose access explains a failed start on Linux
 */
public record LibkrunSettings(String library, List<Path> libraryPath, int logLevel, Accelerator accelerator, Path kvmDevice) {

    /** Where Homebrew installs libkrun and libkrunfw; dyld does not search them by itself. */
    static final List<Path> HOMEBREW_LIBRARY_DIRS = List.of(Path.of("/opt/homebrew/lib"), Path.of("/usr/local/lib"));
    static final Path DEV_KVM = Path.of("/dev/kvm");

    public LibkrunSettings {
        Objects.requireNonNull(library, "library");
        libraryPath = List.copyOf(libraryPath);
        Objects.requireNonNull(accelerator, "accelerator");
        Objects.requireNonNull(kvmDevice, "kvmDevice");
    }

    /**
     * The settings for this host from what is configured: the platform's library name and, on macOS, Homebrew's
     * directories by default. A bare library name is looked up in the library directories first, so that the daemon's
     * probe (which the runner's loader path does not reach) loads the same file the runners will.
     */
    public static LibkrunSettings of(Optional<String> library, Optional<List<Path>> libraryPath, int logLevel,
            HostPlatform platform) {
        List<Path> dirs = libraryPath.orElse(platform.isMacOs() ? HOMEBREW_LIBRARY_DIRS : List.of());
        String name = library.orElse(Libkrun.defaultLibrary(platform.isMacOs()));
        String located = name.contains("/") ? name : dirs.stream().map(d -> d.resolve(name)).filter(Files::exists)
                .findFirst().map(Path::toString).orElse(name);
        return new LibkrunSettings(located, dirs, logLevel, platform.isMacOs() ? Accelerator.HVF : Accelerator.KVM, DEV_KVM);
    }
}
