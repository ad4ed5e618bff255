package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.ImageSource;
import java.nio.file.Path;
import java.util.List;

/** An image source that holds one image, 1.2.3 for x86_64, and answers any other version as not found. */
public final class OneImage implements ImageSource {

    public static final BootImage IMAGE = new BootImage("1.2.3", "x86_64", Path.of("/images/1.2.3"),
            Path.of("/images/1.2.3/vmlinux"), "console=ttyS0", Path.of("/images/1.2.3/rootfs.ext4"),
            Path.of("/images/1.2.3/disk-template.ext4"), 1024, "0.1.0", 1, "a".repeat(64), "b".repeat(64));

    @Override
    public BootImage resolve(String version, String arch) {
        if (!version.isEmpty() && !version.equals(IMAGE.version())) {
            throw new ImageNotFoundException("image " + version + " for " + arch + " is not here");
        }
        return arch.isEmpty() || arch.equals(IMAGE.arch()) ? IMAGE : new BootImage(IMAGE.version(), arch, IMAGE.directory(),
                IMAGE.kernel(), IMAGE.kernelCmdline(), IMAGE.rootfs(), IMAGE.diskTemplate(), IMAGE.diskTemplateSizeMib(),
                IMAGE.agentVersion(), IMAGE.agentProtocolVersion(), IMAGE.kernelSha256(), IMAGE.rootfsSha256());
    }

    @Override
    public List<BootImage> list() {
        return List.of(IMAGE);
    }
}
