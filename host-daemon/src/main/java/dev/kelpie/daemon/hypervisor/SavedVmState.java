package dev.kelpie.daemon.hypervisor;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A VM's full state as files: guest memory and device state in the VMM's own format, and the writable disk as it was
 * at the same instant (the read-only root is the image's and is not copied).
 */
public record SavedVmState(Path memoryFile, Path diskFile, VmPlatform platform) {

    public SavedVmState {
        Objects.requireNonNull(memoryFile, "memoryFile");
        Objects.requireNonNull(diskFile, "diskFile");
        Objects.requireNonNull(platform, "platform");
    }
}
