package dev.kelpie.daemon.hypervisor.qemu;

import dev.kelpie.daemon.hypervisor.SparseFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Guest RAM of qemu VMs as files, one directory per daemon. A VM maps {@code <vmId>.ram}: its own memory
 * ({@code share=on}), or for a clone of a frozen snapshot either a hard link to that snapshot mapped read-only and
 * private ({@link #linkTo}, where qemu can) or a sparse copy of it that the clone owns ({@link #copyOf}). Every name is
 * owned by one VM, one fork under way, or one package's frozen memory, so a sweep by name finds the orphans; the link
 * count keeps a snapshot's pages while any clone still names them.
 */
public final class QemuRamFiles {

    static final String SUFFIX = ".ram";
    static final String STATE_SUFFIX = ".state";
    private static final String PARTIAL_SUFFIX = ".partial";
    private static final int DIR_HASH_HEX_CHARS = 12;

    private final Path dir;

    public QemuRamFiles(Path dir) {
        this.dir = dir;
    }

    /**
     * Where a daemon with {@code stateDir} keeps guest RAM unless configured: on Linux a directory of its own in
     * {@code /dev/shm} (tmpfs: a shared file there costs what anonymous memory would, and never writes back to a
     * disk), named after the state directory so that daemons side by side never sweep each other's files; elsewhere
     * (macOS has no tmpfs) {@code ram} in the state directory.
     */
    public static Path defaultDir(Path stateDir) {
        Path shm = Path.of("/dev/shm");
        if (!System.getProperty("os.name").toLowerCase().contains("linux") || !Files.isDirectory(shm)) {
            return stateDir.resolve("ram");
        }
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256")
                    .digest(stateDir.toAbsolutePath().normalize().toString().getBytes(StandardCharsets.UTF_8));
            return shm.resolve("kelpie-ram-" + HexFormat.of().formatHex(hash).substring(0, DIR_HASH_HEX_CHARS));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    Path dir() {
        return dir;
    }

    /** The RAM file a VM (or a frozen snapshot) named {@code name} maps. */
    Path of(String name) {
        return dir.resolve(name + SUFFIX);
    }

    /** The device state that goes with the frozen RAM file {@code name} (a package's, see QemuMemoryFreeze). */
    Path stateOf(String name) {
        return dir.resolve(name + STATE_SUFFIX);
    }

    /** A fresh, empty RAM file for a VM that owns its memory: holes until the guest writes. */
    Path fresh(String vmId) throws IOException {
        Files.createDirectories(dir);
        Path file = of(vmId);
        Files.deleteIfExists(file);
        return file;
    }

    /**
     * {@code vmId}'s RAM file as a hard link to a frozen snapshot, for a clone that maps it read-only and private
     * ({@link QemuRamMapping#PRIVATE_READ_ONLY_FILE}): its siblings share every page it has not written.
     */
    Path linkTo(String vmId, Path frozen) throws IOException {
        Path file = fresh(vmId);
        Files.createLink(file, frozen);
        return file;
    }

    /**
     * {@code vmId}'s RAM file as its own sparse copy of a frozen snapshot, which the VM then maps {@code share=on}.
     * For a qemu without a read-only private mapping: QEMU 7.2 discards a page the guest's balloon reports free by punching a
     * hole in the file even for a private mapping, which would zero that page under every other clone of the snapshot.
     */
    Path copyOf(String vmId, Path frozen) throws IOException, InterruptedException {
        Path file = fresh(vmId);
        SparseFiles.copy(frozen, file);
        return file;
    }

    /**
     * Copies a VM's RAM file into a frozen snapshot named {@code name} while the VM's vCPUs are stopped: only the
     * pages the guest touched are copied, the rest stay holes. The snapshot appears complete or not at all.
     */
    Path freeze(String vmId, String name) throws IOException, InterruptedException {
        Path target = of(name);
        Path partial = target.resolveSibling(target.getFileName() + PARTIAL_SUFFIX);
        Files.deleteIfExists(partial);
        try {
            SparseFiles.copy(of(vmId), partial);
            Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(partial);
        }
        return target;
    }

    /** Removes the RAM file of a VM (or snapshot) that is gone; mappings that still hold it keep their pages. */
    void delete(String name) {
        try {
            Files.deleteIfExists(of(name));
            Files.deleteIfExists(stateOf(name));
        } catch (IOException e) {
            throw new UncheckedIOException("removing the RAM file " + of(name) + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * Removes every file here that is not the RAM file of one of {@code keep}: snapshots, partial copies. A directory
     * left empty goes too, so that daemons whose state directories are gone leave nothing in {@code /dev/shm}; the
     * daemon sweeps only while it makes no VM (at recovery and at shutdown), and {@link #fresh} makes it again.
     */
    void sweep(Set<String> keep) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        List<Path> files;
        try (Stream<Path> listing = Files.list(dir)) {
            files = listing.toList();
        } catch (IOException e) {
            throw new UncheckedIOException("listing " + dir + " failed: " + e.getMessage(), e);
        }
        for (Path file : files) {
            String name = file.getFileName().toString();
            if (!(name.endsWith(SUFFIX) && keep.contains(name.substring(0, name.length() - SUFFIX.length())))) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException e) {
                    throw new UncheckedIOException("removing the orphan RAM file " + file + " failed: " + e.getMessage(), e);
                }
            }
        }
        try {
            Files.delete(dir);
        } catch (DirectoryNotEmptyException e) {
            // VMs that run on past this daemon keep their RAM files, and so the directory.
        } catch (IOException e) {
            throw new UncheckedIOException("removing the empty RAM directory " + dir + " failed: " + e.getMessage(), e);
        }
    }
}
