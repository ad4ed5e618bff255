package dev.kelpie.daemon.hypervisor.probe;

import java.nio.file.Path;

/** Proves an accelerator by booting a guest kernel on it; the seam that lets tests see which accelerators were tried. */
@FunctionalInterface
public interface BootProbe {

    /** Boots {@code kernel} with {@code qemuBinary} on {@code accelerator}; never leaves the VM running. */
    ProbeResult boot(String qemuBinary, QemuMachine machine, Accelerator accelerator, Path kernel);
}
