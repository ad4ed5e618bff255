package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.images.BootImage;

/**
 * The writable disk a sandbox gets: the image's template, grown (sparsely, and its file system online at boot) to
 * the size asked for. A disk can grow but never shrink below the template, whose file system fills it.
 */
final class DiskSizes {

    private DiskSizes() {}

    /**
     * {@code config} with its disk size resolved against {@code image}: 0 becomes the template's size, so the record
     * and Get report the real size. The per-sandbox limit is {@link Admission#checkShape}'s.
     *
     * @throws InvalidRequestException when the size asked for is below the template's
     */
    static SandboxConfig resolve(SandboxConfig config, BootImage image) {
        long templateMib = image.diskTemplateSizeMib();
        if (config.diskSizeMib() == 0) {
            return withDiskSize(config, templateMib);
        }
        if (config.diskSizeMib() < templateMib) {
            throw new InvalidRequestException("disk_size_mib " + config.diskSizeMib() + " is smaller than image "
                    + image.version() + "'s writable disk of " + templateMib + " MiB; a disk can grow but not shrink"
                    + " (ask for 0 or at least " + templateMib + ")");
        }
        return config;
    }

    private static SandboxConfig withDiskSize(SandboxConfig c, long diskSizeMib) {
        return new SandboxConfig(c.imageVersion(), c.vcpuCount(), c.memoryMib(), diskSizeMib, c.env(), c.labels(),
                c.ttlMs(), c.idleTimeoutMs(), c.network(), c.idleAction(), c.arch(), c.ociImage());
    }
}
