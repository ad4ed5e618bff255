package dev.kelpie.daemon.images.oci;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.images.cache.BlobHashing;
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
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Turns a cached OCI image into a bootable ext4 root, cached beside its entry by manifest digest: the layers applied
 * in order ({@link LayerUnpacker}), the mount points the agent needs, and our agent at {@link #AGENT_PATH} (never the
 * image's: the kernel command line names that path as init). Built in a staging directory and moved into place in
 * one step, so a failure leaves no root and no staging tree.
 *
 * <p>The root is reproducible: the same image and agent give the same bytes on any host with e2fsprogs 1.47.1 or
 * newer (a {@code vm} package's memory caches the root's blocks, so its restore needs the very root it booted, and
 * pins it by its sha256, recorded beside the root). mke2fs reads the tree in C-locale name order, with a UUID and
 * directory hash seed derived from the manifest digest, our own feature list instead of the host's mke2fs.conf, and
 * every time clamped to the image's {@code created} time ({@code SOURCE_DATE_EPOCH}), so the times of what this
 * build made (mount points, the agent, directories a later layer changed) do not depend on when it ran.
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
    /** The ext4 features of Debian's mke2fs.conf that every supported e2fsprogs knows, without a journal. */
    static final String MKE2FS_CONF = """
            [defaults]
            	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
            	default_mntopts = acl,user_xattr
            	enable_periodic_fsck = 0
            [fs_types]
            	ext4 = {
            		features = extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
            	}
            """;
    private static final ObjectMapper JSON = new ObjectMapper();

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
        long epochSeconds = sourceDateEpochSeconds(image);
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
            mke2fs(tree, ext4, unpacker.usedBytes() + agentBytes, count(tree), image.manifestSha256(), epochSeconds);
            // The hash first: a published root always has its sha256 beside it.
            Path hash = staging.resolve("root.ext4.sha256");
            Files.writeString(hash, BlobHashing.sha256(ext4));
            publish(hash, cache.ociRootSha256(image.manifestSha256()));
            publish(ext4, target);
            return target;
        } finally {
            cache.discard(staging);
        }
    }

    /**
     * The sha256 (hex) of the image's built root, empty when it is not built. A root built before roots were
     * reproducible has no recorded hash: it is hashed now, once.
     */
    public synchronized Optional<String> rootSha256(String manifestSha256) throws IOException {
        Path root = cache.ociRoot(manifestSha256);
        if (!Files.exists(root)) {
            return Optional.empty();
        }
        Path recorded = cache.ociRootSha256(manifestSha256);
        if (!Files.exists(recorded)) {
            Path temp = recorded.resolveSibling("." + recorded.getFileName() + ".tmp");
            Files.writeString(temp, BlobHashing.sha256(root));
            publish(temp, recorded);
        }
        return Optional.of(Files.readString(recorded).strip());
    }

    private static void publish(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot publish " + to + " atomically: " + e.getMessage(), e);
        }
    }

    /**
     * The image's {@code created} time: files the image dates later, and everything this build makes, get it. An
     * image without one gets the epoch (all its files then carry that time).
     */
    private long sourceDateEpochSeconds(OciImage image) throws IOException {
        String created = JSON.readTree(cache.blob(image.configBlob().sha256()).toFile()).path("created").asText("");
        try {
            return created.isEmpty() ? 0 : Math.max(0, OffsetDateTime.parse(created).toEpochSecond());
        } catch (DateTimeParseException e) {
            return 0;
        }
    }

    /** {@code 8-4-4-4-12} hex from the given 16 bytes of the manifest's sha256: the same digest, the same id. */
    static String uuidFrom(String manifestSha256, int byteOffset) {
        String hex = manifestSha256.substring(byteOffset * 2, byteOffset * 2 + 32);
        return hex.substring(0, 8) + "-" + hex.substring(8, 12) + "-" + hex.substring(12, 16) + "-"
                + hex.substring(16, 20) + "-" + hex.substring(20);
    }

    private static void mke2fs(Path tree, Path ext4, long usedBytes, long entries, String manifestSha256,
            long epochSeconds) throws IOException {
        long inodes = (entries + 256) / INODE_ROUND * INODE_ROUND + INODE_ROUND;
        long sizeMib = ((usedBytes + SLACK_BYTES) * 115 / 100 >> 20) + 1;
        Path conf = Files.writeString(ext4.resolveSibling("mke2fs.conf"), MKE2FS_CONF);
        List<String> command = new ArrayList<>(List.of("mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256",
                "-N", Long.toString(inodes), "-m", "0", "-O", "^has_journal", "-U", uuidFrom(manifestSha256, 0),
                "-E", "root_owner=0:0,hash_seed=" + uuidFrom(manifestSha256, 16),
                "-L", "kelpie-oci-root", "-d", tree.toString(), ext4.toString(), sizeMib + "M"));
        Path log = ext4.resolveSibling("mke2fs.log");
        // LC_ALL=C: mke2fs reads directories in alphasort order, which follows the locale's collation.
        Map<String, String> env = Map.of("LC_ALL", "C", "SOURCE_DATE_EPOCH", Long.toString(epochSeconds),
                "MKE2FS_CONFIG", conf.toString());
        int exit = HostCommand.run(command, env, log, MKE2FS_TIMEOUT_SECONDS, "mke2fs built " + ext4);
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
