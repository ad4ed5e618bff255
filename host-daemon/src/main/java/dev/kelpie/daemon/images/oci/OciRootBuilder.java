package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.images.cache.ImageCache;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Turns a cached OCI image into a bootable ext4 root, cached beside its entry by manifest digest: the layers applied
 * in order ({@link LayerUnpacker}), the mount points the agent needs, and our agent at {@link #AGENT_PATH} (never the
 * image's: the kernel command line names that path as init). Built in a staging directory and moved into place in
 * one step, so a failure leaves no root and no staging tree.
 */
public final class OciRootBuilder {

    /** Where the agent goes in every OCI root; the kernel's {@code init=} names it. */
    public static final String AGENT_PATH = "/.kelpie/kelpie-agent";
    /** What the agent mounts over or writes to at boot; created when the image lacks them. */
    static final List<String> MOUNT_POINTS = List.of("proc", "sys", "dev", "run", "tmp", "workspace", "mnt");
    /** ext4's own overhead and the agent's slack on top of what the files take. */
    private static final long SLACK_BYTES = 16L << 20;
    private static final long MKE2FS_TIMEOUT_SECONDS = 600;
    private static final long INODE_ROUND = 64;

    private final ImageCache cache;
    private final long maxRootBytes;

    public OciRootBuilder(ImageCache cache, long maxRootBytes) {
        this.cache = cache;
        this.maxRootBytes = maxRootBytes;
    }

    /**
     * The image's root, built now unless cached.
     *
     * @param agent the agent binary of the base image whose kernel boots this root
     * @throws RootTooLargeException when the files alone exceed the limit (found while unpacking)
     * @throws HostileLayerException when a layer tries to write outside the root
     */
    public synchronized Path build(OciImage image, Path agent) throws IOException {
        Path target = cache.ociRoot(image.manifestSha256());
        if (Files.exists(target)) {
            return target;
        }
        Path staging = cache.newStagingDir();
        try {
            Path tree = Files.createDirectory(staging.resolve("tree"));
            LayerUnpacker unpacker = new LayerUnpacker(tree, maxRootBytes, image.repository() + "@"
                    + image.manifestDigest());
            for (OciDescriptor layer : image.layers()) {
                OciLayerFormat format = OciLayerFormat.of(layer.mediaType()).orElseThrow(() ->
                        new HostileLayerException(image.manifestDigest() + ": layer " + layer.digest()
                                + " has media type '" + layer.mediaType() + "'"));
                try (InputStream in = format.open(Files.newInputStream(cache.blob(layer.sha256())))) {
                    unpacker.apply(in, layer.digest());
                }
            }
            for (String dir : MOUNT_POINTS) {
                Path p = tree.resolve(dir);
                if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectory(p);
                }
            }
            Files.setAttribute(tree.resolve("tmp"), "unix:mode", 01777);
            Path kelpieDir = tree.resolve(".kelpie");
            LayerUnpacker.deleteTree(kelpieDir);
            Files.createDirectory(kelpieDir);
            Path agentTarget = tree.resolve(AGENT_PATH.substring(1));
            Files.copy(agent, agentTarget);
            Files.setAttribute(agentTarget, "unix:mode", 0755);
            long agentBytes = Files.size(agentTarget);
            Path ext4 = staging.resolve("root.ext4");
            mke2fs(tree, ext4, unpacker.usedBytes() + agentBytes, count(tree));
            try {
                Files.move(ext4, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot publish " + target + " atomically: " + e.getMessage(), e);
            }
            return target;
        } finally {
            cache.discard(staging);
        }
    }

    private static void mke2fs(Path tree, Path ext4, long usedBytes, long entries) throws IOException {
        long inodes = (entries + 256) / INODE_ROUND * INODE_ROUND + INODE_ROUND;
        long sizeMib = ((usedBytes + SLACK_BYTES) * 115 / 100 >> 20) + 1;
        List<String> command = new ArrayList<>(List.of("mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256",
                "-N", Long.toString(inodes), "-m", "0", "-O", "^has_journal", "-E", "root_owner=0:0",
                "-L", "kelpie-oci-root", "-d", tree.toString(), ext4.toString(), sizeMib + "M"));
        Path log = ext4.resolveSibling("mke2fs.log");
        int exit = HostCommand.run(command, log, MKE2FS_TIMEOUT_SECONDS, "mke2fs built " + ext4);
        if (exit != 0) {
            throw new IOException("mke2fs failed (exit " + exit + "): " + HostCommand.output(log));
        }
    }

    private static long count(Path tree) {
        try (Stream<Path> all = Files.walk(tree)) {
            return all.count();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot count the files of " + tree + ": " + e.getMessage(), e);
        }
    }
}
