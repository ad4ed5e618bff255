package dev.kelpie.daemon.hypervisor;

import dev.kelpie.daemon.images.BootImage;
import java.nio.file.Path;
import java.util.Objects;

/**
 * One VM to boot: the image, its shape, and the directory that holds everything of this VM (sockets, console log,
 * pid, writable disk, record), and its network
 * device if it has one. The directory path must stay short: Unix socket paths are limited to 103 bytes.
 *
 * @param diskSizeMib the writable disk's size: the image's template grown to it (never shrunk; see {@link WritableDisk})
 */
public record VmSpec(String vmId, Path runtimeDir, BootImage image, int vcpuCount, int memoryMib, long diskSizeMib,
        VmNetwork network) {

    /** A VM without a network device. */
    public VmSpec(String vmId, Path runtimeDir, BootImage image, int vcpuCount, int memoryMib, long diskSizeMib) {
        this(vmId, runtimeDir, image, vcpuCount, memoryMib, diskSizeMib, VmNetwork.NONE);
    }

    public VmSpec {
        Objects.requireNonNull(vmId, "vmId");
        Objects.requireNonNull(network, "network");
        Objects.requireNonNull(runtimeDir, "runtimeDir");
        Objects.requireNonNull(image, "image");
        if (vcpuCount < 1) {
            throw new IllegalArgumentException("vcpuCount must be at least 1, got " + vcpuCount);
        }
        if (memoryMib < 64) {
            throw new IllegalArgumentException("memoryMib must be at least 64, got " + memoryMib);
        }
    }
}
