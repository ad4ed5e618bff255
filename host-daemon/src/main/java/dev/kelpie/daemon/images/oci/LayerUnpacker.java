package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.images.DamagedImageException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.jboss.logging.Logger;

/**
 * Applies an image's layers, in order, to a root directory as the OCI image spec's changesets say: whiteouts
 * ({@code .wh.NAME}) delete what lower layers put there, an opaque marker ({@code .wh..wh..opq}) empties its
 * directory of lower layers' entries, and entries carry their modes (setuid included), owners, times and
 * extended attributes.
 *
 * <p>Nothing a layer says can reach outside the root: a name with {@code ..} is refused, a leading {@code /} is
 * dropped, and every parent directory is resolved inside the root as the guest would see it (symlinks followed with
 * {@code /} meaning the root, {@code ..} stopping at it), by looking at what is on disk at each step; the last
 * component is never followed. Hard links must name a regular file already in the root. Device nodes and FIFOs are
 * not created (the guest's {@code /dev} is a devtmpfs; an unprivileged daemon cannot make them). The bytes written
 * are counted against a limit before they are written, so a root over it fails while unpacking, not after.
 */
public final class LayerUnpacker {

    private static final Logger LOG = Logger.getLogger(LayerUnpacker.class);
    static final String WHITEOUT_PREFIX = ".wh.";
    static final String OPAQUE = ".wh..wh..opq";
    /** Linux gives up resolving after 40 symlinks; so does this. */
    private static final int MAX_SYMLINK_HOPS = 40;
    /** NAME_MAX of ext4 and of every file system the daemon unpacks on. */
    static final int MAX_NAME_BYTES = 255;
    /** PATH_MAX, which counts the terminating NUL: the longest path (or symlink target) a system call takes. */
    static final int MAX_PATH_BYTES = 4096;
    /** What an entry costs beyond its data: an inode and a directory entry, roughly, in the ext4 root. */
    static final long ENTRY_OVERHEAD_BYTES = 256;
    private static final long BLOCK_BYTES = 4096;
    private static final int COPY_BUFFER_BYTES = 1 << 16;
    private static final Set<String> XATTR_NAMESPACES = Set.of("security.capability", "user.");

    private final Path root;
    private final long maxBytes;
    private final String image;
    private long usedBytes;
    private boolean ownershipWarned;
    private int skippedDevices;

    /**
     * @param root an empty directory that becomes the image's {@code /}
     * @param image names the image in errors
     */
    public LayerUnpacker(Path root, long maxBytes, String image) {
        this.root = root;
        this.maxBytes = maxBytes;
        this.image = image;
    }

    /** Bytes the layers applied so far wrote (data rounded to blocks, plus a fixed cost per entry). */
    public long usedBytes() {
        return usedBytes;
    }

    /** Device nodes and FIFOs left out. */
    public int skippedDevices() {
        return skippedDevices;
    }

    /** Applies one layer's (uncompressed) tar. */
    public void apply(InputStream tarStream, String layer) throws IOException {
        Set<Path> createdHere = new HashSet<>();
        List<Deferred> directories = new ArrayList<>();
        TarArchiveInputStream tar = new TarArchiveInputStream(tarStream, StandardCharsets.UTF_8.name());
        TarArchiveEntry entry;
        while ((entry = next(tar, layer)) != null) {
            List<String> name = components(entry.getName(), layer);
            if (name.isEmpty()) {
                if (entry.isDirectory()) {
                    directories.add(new Deferred(root, entry));
                }
                continue;
            }
            String base = name.getLast();
            Path parent = resolveDirectory(name.subList(0, name.size() - 1), createdHere, entry.getName(), layer);
            if (base.equals(OPAQUE)) {
                emptyExcept(parent, createdHere);
                continue;
            }
            if (base.startsWith(WHITEOUT_PREFIX)) {
                String hidden = base.substring(WHITEOUT_PREFIX.length());
                requirePlainName(hidden, entry.getName(), layer);
                deleteTree(parent.resolve(hidden));
                continue;
            }
            Path target = parent.resolve(base);
            requireShortEnough(target, entry.getName(), layer);
            charge(ENTRY_OVERHEAD_BYTES, entry.getName());
            if (entry.isDirectory()) {
                BasicFileAttributes existing = lstat(target);
                if (existing != null && !existing.isDirectory()) {
                    deleteTree(target);
                    existing = null;
                }
                if (existing == null) {
                    Files.createDirectory(target);
                }
                createdHere.add(target);
                directories.add(new Deferred(target, entry));
            } else if (entry.isSymbolicLink()) {
                String linkName = entry.getLinkName();
                if (linkName.isEmpty() || linkName.indexOf('\0') >= 0
                        || bytes(linkName) >= MAX_PATH_BYTES) {
                    throw new HostileLayerException(image + ": layer " + layer + ": symlink '" + entry.getName()
                            + "' has an empty target, one with a NUL byte or one of " + MAX_PATH_BYTES + " bytes or more");
                }
                deleteTree(target);
                Files.createSymbolicLink(target, Path.of(linkName));
                createdHere.add(target);
                own(target, entry);
            } else if (entry.isLink()) {
                Path source = resolveExisting(entry.getLinkName(), createdHere, layer, entry.getName());
                if (source.startsWith(target)) {
                    // Replacing the target would delete the very file the link is to share.
                    throw new HostileLayerException(image + ": layer " + layer + ": hard link '" + entry.getName()
                            + "' would replace its own source '" + entry.getLinkName() + "'");
                }
                deleteTree(target);
                Files.createLink(target, source);
                createdHere.add(target);
            } else if (entry.isCharacterDevice() || entry.isBlockDevice() || entry.isFIFO()) {
                skippedDevices++;
                LOG.debugf("%s: left out device node or FIFO %s", image, entry.getName());
            } else if (entry.isFile()) {
                deleteTree(target);
                long size = Math.max(entry.getSize(), entry.getRealSize());
                charge(roundUp(size), entry.getName());
                copy(tar, target, size, entry.getName());
                createdHere.add(target);
                own(target, entry);
                Files.setAttribute(target, "unix:mode", entry.getMode() & 07777, LinkOption.NOFOLLOW_LINKS);
                Files.setLastModifiedTime(target, FileTime.from(entry.getLastModifiedTime().toInstant()));
                xattrs(target, entry);
            } else {
                throw new HostileLayerException(image + ": layer " + layer + " has entry " + entry.getName()
                        + " of a type Kelpie does not unpack");
            }
        }
        // Deepest first, so that a directory's time is set after its children are written.
        directories.sort(Comparator.comparingInt((Deferred d) -> d.path.getNameCount()).reversed());
        for (Deferred d : directories) {
            BasicFileAttributes now = lstat(d.path);
            if (now == null || !now.isDirectory()) {
                continue; // a later entry of the layer whited it out or replaced it (a symlink's mode is not ours to set)
            }
            own(d.path, d.entry);
            Files.setAttribute(d.path, "unix:mode", d.entry.getMode() & 07777, LinkOption.NOFOLLOW_LINKS);
            xattrs(d.path, d.entry);
            Files.setLastModifiedTime(d.path, FileTime.from(d.entry.getLastModifiedTime().toInstant()));
        }
    }

    private record Deferred(Path path, TarArchiveEntry entry) {}

    /** The next entry; a tar that does not parse is a damaged layer, not a failing disk. */
    private TarArchiveEntry next(TarArchiveInputStream tar, String layer) {
        try {
            return tar.getNextEntry();
        } catch (IOException | IllegalArgumentException e) {
            throw new DamagedImageException(image + ": layer " + layer + " is not a readable tar: " + e.getMessage());
        }
    }

    /** The name's components; a leading '/' or './' is dropped, '..' is refused. */
    private List<String> components(String entryName, String layer) {
        List<String> out = new ArrayList<>();
        for (String c : entryName.split("/")) {
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                throw new HostileLayerException(image + ": layer " + layer + " has entry '" + entryName
                        + "', which climbs out with '..'; the image is refused");
            }
            if (c.indexOf('\0') >= 0) {
                throw new HostileLayerException(image + ": layer " + layer + " has an entry name with a NUL byte");
            }
            if (bytes(c) > MAX_NAME_BYTES) {
                throw new HostileLayerException(image + ": layer " + layer + " has entry '" + entryName
                        + "' with a name longer than " + MAX_NAME_BYTES + " bytes, which no Linux file system takes");
            }
            out.add(c);
        }
        return out;
    }

    private void requirePlainName(String name, String entryName, String layer) {
        if (name.isEmpty() || name.equals(".") || name.equals("..")) {
            throw new HostileLayerException(image + ": layer " + layer + " has whiteout '" + entryName
                    + "', which names no file");
        }
    }

    /**
     * The directory {@code path} names inside the root, as the guest would resolve it; missing directories are
     * created (layers may leave parents implicit).
     */
    private Path resolveDirectory(List<String> path, Set<Path> createdHere, String entryName, String layer)
            throws IOException {
        Deque<String> todo = new ArrayDeque<>(path);
        Deque<String> resolved = new ArrayDeque<>();
        int hops = 0;
        while (!todo.isEmpty()) {
            String c = todo.pollFirst();
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                resolved.pollLast(); // '..' at '/' stays at '/', as in the guest
                continue;
            }
            Path here = join(resolved).resolve(c);
            requireShortEnough(here, entryName, layer);
            BasicFileAttributes a = lstat(here);
            if (a == null) {
                charge(ENTRY_OVERHEAD_BYTES, entryName);
                Files.createDirectory(here);
                createdHere.add(here);
                resolved.addLast(c);
            } else if (a.isSymbolicLink()) {
                if (++hops > MAX_SYMLINK_HOPS) {
                    throw new HostileLayerException(image + ": layer " + layer + ": resolving the parent of '"
                            + entryName + "' takes more than " + MAX_SYMLINK_HOPS + " symlinks");
                }
                String target = Files.readSymbolicLink(here).toString();
                if (target.startsWith("/")) {
                    resolved.clear();
                }
                String[] parts = target.split("/");
                for (int i = parts.length - 1; i >= 0; i--) {
                    todo.addFirst(parts[i]);
                }
            } else if (a.isDirectory()) {
                resolved.addLast(c);
            } else {
                throw new HostileLayerException(image + ": layer " + layer + ": entry '" + entryName
                        + "' goes through '" + root.relativize(here) + "', which is not a directory");
            }
        }
        return join(resolved);
    }

    /** A hard link's source: an existing regular file, resolved like an entry name. */
    private Path resolveExisting(String linkName, Set<Path> createdHere, String layer, String entryName)
            throws IOException {
        List<String> name = components(linkName, layer);
        if (name.isEmpty()) {
            throw new HostileLayerException(image + ": layer " + layer + ": hard link '" + entryName
                    + "' points at the root");
        }
        Path source = resolveDirectory(name.subList(0, name.size() - 1), createdHere, entryName, layer)
                .resolve(name.getLast());
        BasicFileAttributes a = lstat(source);
        if (a == null || !a.isRegularFile()) {
            throw new HostileLayerException(image + ": layer " + layer + ": hard link '" + entryName + "' points at '"
                    + linkName + "', which is " + (a == null ? "not in the image" : "not a regular file"));
        }
        return source;
    }

    /** A path the kernel would refuse to look up (ENAMETOOLONG) is the image's fault, and says so. */
    private void requireShortEnough(Path path, String entryName, String layer) {
        if (bytes(path.toString()) >= MAX_PATH_BYTES) {
            throw new HostileLayerException(image + ": layer " + layer + ": entry '" + entryName
                    + "' makes a path of " + MAX_PATH_BYTES + " bytes or more (the unpacking directory's own included),"
                    + " which Linux does not take");
        }
    }

    private static int bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    private Path join(Deque<String> resolved) {
        Path p = root;
        for (String c : resolved) {
            p = p.resolve(c);
        }
        return p;
    }

    private void charge(long bytes, String entryName) {
        usedBytes += bytes;
        if (usedBytes > maxBytes) {
            throw new RootTooLargeException(image + ": its root grows over the limit of " + maxBytes + " bytes at "
                    + entryName + " (kelpie.images.oci.max-root-bytes)");
        }
    }

    private void copy(InputStream in, Path target, long size, String entryName) throws IOException {
        try (OutputStream out = Files.newOutputStream(target, StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
            byte[] buffer = new byte[COPY_BUFFER_BYTES];
            long written = 0;
            int n;
            while ((n = read(in, buffer, entryName)) >= 0) {
                written += n;
                if (written > size) {
                    throw new HostileLayerException(image + ": " + entryName + " holds more than the " + size
                            + " bytes its header says");
                }
                out.write(buffer, 0, n);
            }
        }
    }

    /** Reads the entry's data; a tar that breaks off is a damaged layer, not a failing disk. */
    private int read(InputStream in, byte[] buffer, String entryName) {
        try {
            return in.read(buffer);
        } catch (IOException e) {
            throw new DamagedImageException(image + ": the data of " + entryName + " cannot be read from its layer: "
                    + e.getMessage());
        }
    }

    private void own(Path path, TarArchiveEntry entry) throws IOException {
        try {
            Files.setAttribute(path, "unix:uid", (int) entry.getLongUserId(), LinkOption.NOFOLLOW_LINKS);
            Files.setAttribute(path, "unix:gid", (int) entry.getLongGroupId(), LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.FileSystemException e) {
            if (!ownershipWarned) {
                ownershipWarned = true;
                LOG.warnf("%s: cannot give files their owners (%s): the daemon is not running as root; files "
                        + "in the root belong to the daemon's user", image, e.getMessage());
            }
        }
    }

    /**
     * {@code SCHILY.xattr.*} as Go's archive/tar writes them, {@code LIBARCHIVE.xattr.*} (base64) as libarchive
     * does; only capabilities and {@code user.*} are set, never a security label an image could choose.
     */
    private void xattrs(Path path, TarArchiveEntry entry) {
        for (Map.Entry<String, String> h : entry.getExtraPaxHeaders().entrySet()) {
            String key = h.getKey();
            String name;
            byte[] value;
            if (key.startsWith("SCHILY.xattr.")) {
                name = key.substring("SCHILY.xattr.".length());
                if (h.getValue().indexOf('\uFFFD') >= 0) {
                    LOG.warnf("%s: xattr %s of %s is not representable as read; left out", image, name, entry.getName());
                    continue;
                }
                value = h.getValue().getBytes(StandardCharsets.UTF_8);
            } else if (key.startsWith("LIBARCHIVE.xattr.")) {
                name = key.substring("LIBARCHIVE.xattr.".length());
                try {
                    value = Base64.getDecoder().decode(h.getValue());
                } catch (IllegalArgumentException e) {
                    LOG.warnf("%s: xattr %s of %s is not base64 (%s); left out", image, name, entry.getName(),
                            e.getMessage());
                    continue;
                }
            } else {
                continue;
            }
            if (XATTR_NAMESPACES.stream().noneMatch(name::startsWith)) {
                continue;
            }
            try {
                Xattrs.set(path, name, value);
            } catch (IOException e) {
                LOG.warnf("%s: %s", image, e.getMessage());
            }
        }
    }

    /** Deletes entries of {@code dir} that lower layers made. */
    private static void emptyExcept(Path dir, Set<Path> keep) throws IOException {
        try (Stream<Path> children = Files.list(dir)) {
            for (Path child : children.toList()) {
                if (!keep.contains(child)) {
                    deleteTree(child);
                }
            }
        }
    }

    private static BasicFileAttributes lstat(Path p) throws IOException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** Removes {@code p} and, if it is a real directory, what is in it; symlinks are removed, never followed. */
    static void deleteTree(Path p) throws IOException {
        BasicFileAttributes a = lstat(p);
        if (a == null) {
            return;
        }
        if (a.isDirectory()) {
            try (Stream<Path> walk = Files.walk(p)) {
                for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(q);
                }
            }
        } else {
            Files.delete(p);
        }
    }

    private static long roundUp(long bytes) {
        return (bytes + BLOCK_BYTES - 1) / BLOCK_BYTES * BLOCK_BYTES;
    }
}
