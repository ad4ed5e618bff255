package dev.kelpie.daemon.hypervisor.libkrun;

import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

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

    public LibkrunSettings {
        Objects.requireNonNull(library, "library");
        libraryPath = List.copyOf(libraryPath);
        Objects.requireNonNull(accelerator, "accelerator");
        Objects.requireNonNull(kvmDevice, "kvmDevice");
    }
}
