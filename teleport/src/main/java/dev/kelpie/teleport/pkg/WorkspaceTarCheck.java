package dev.kelpie.teleport.pkg;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;

/**
 * Checks a checkpoint's workspace tar before it goes to a guest, by the rules the agent's import enforces too: no
 * absolute paths or {@code ..}; no symlink that resolves outside the workspace once the archive's other symlinks are
 * followed ({@link ArchiveSymlinks}); no entry whose path passes through a symlink of the same archive; hard links only
 * to earlier files inside it; no devices, fifos or other special files. A package from a shared store is untrusted;
 * refusing it here gives a clear error before any sandbox exists.
 */
public final class WorkspaceTarCheck {

    private WorkspaceTarCheck() {}

    /**
     * Reads the tar to its end.
     *
     * @throws InvalidPackageException naming the first offending entry, or when the bytes are not a tar
     * @throws IOException only when reading {@code tar} itself fails
     */
    public static long check(InputStream tar, String where) throws IOException {
        ArchiveSymlinks symlinks = new ArchiveSymlinks();
        Set<String> files = new HashSet<>();
        Set<String> dirs = new HashSet<>();
        long count = 0;
        try (UntrustedTar in = new UntrustedTar(tar, where + ": the workspace")) {
            TarArchiveEntry entry;
            while ((entry = in.nextEntry()) != null) {
                count++;
                String path = normalise(entry.getName(), where);
                if (path.isEmpty()) {
                    continue; // "./" itself
                }
                for (String parent = parentOf(path); !parent.isEmpty(); parent = parentOf(parent)) {
                    if (symlinks.isSymlink(parent)) {
                        throw reject(where, entry.getName(), "its path goes through the symlink " + parent);
                    }
                    if (files.contains(parent)) {
                        throw reject(where, entry.getName(), "its parent " + parent + " is not a directory");
                    }
                    dirs.add(parent); // the importer creates missing parents
                }
                boolean directory = entry.getLinkFlag() == TarArchiveEntry.LF_DIR;
                if (!directory && dirs.contains(path)) {
                    throw reject(where, entry.getName(), "it would replace a directory");
                }
                if (entry.isSymbolicLink()) {
                    files.remove(path);
                    Optional<String> refusal = symlinks.add(path, entry.getLinkName());
                    if (refusal.isPresent()) {
                        throw reject(where, entry.getName(), "a symlink that " + refusal.get());
                    }
                } else if (entry.isLink()) {
                    if (!isEarlierFile(entry.getLinkName(), files)) {
                        throw reject(where, entry.getName(), "a hard link to " + entry.getLinkName()
                                + ", which is not an earlier file of the archive");
                    }
                    addFile(symlinks, files, path, where, entry);
                } else if (isRegularFile(entry)) {
                    addFile(symlinks, files, path, where, entry);
                } else if (directory) {
                    if (symlinks.isSymlink(path) || files.contains(path)) {
                        throw reject(where, entry.getName(), "a directory entry over an earlier non-directory");
                    }
                    dirs.add(path);
                } else {
                    throw reject(where, entry.getName(), kindOf(entry));
                }
            }
        }
        return count;
    }

    /** A file entry replaces whatever non-directory stood at its path, an earlier symlink included. */
    private static void addFile(ArchiveSymlinks symlinks, Set<String> files, String path, String where,
            TarArchiveEntry entry) {
        Optional<String> refusal = symlinks.replacedByFile(path);
        if (refusal.isPresent()) {
            throw reject(where, entry.getName(), "a file in place of a symlink: " + refusal.get());
        }
        files.add(path);
    }

    /**
     * By the type flag, as the agent's import decides: commons-compress's {@code isFile()} is true for every
     * non-directory whose name lacks a trailing slash, devices and fifos included, and its {@code isDirectory()} for
     * every entry whose name has one, devices and fifos included. These are the flags the agent writes as files.
     */
    private static boolean isRegularFile(TarArchiveEntry entry) {
        byte flag = entry.getLinkFlag();
        return flag == TarArchiveEntry.LF_NORMAL || flag == TarArchiveEntry.LF_OLDNORM
                || flag == TarArchiveEntry.LF_CONTIG;
    }

    private static String kindOf(TarArchiveEntry entry) {
        if (entry.isCharacterDevice()) {
            return "a character device";
        } else if (entry.isBlockDevice()) {
            return "a block device";
        } else if (entry.isFIFO()) {
            return "a fifo";
        }
        return "an unsupported entry type '" + (char) entry.getLinkFlag() + "'";
    }

    /** A hard link's target names the file it shares data with: never a directory, a symlink or a later entry. */
    private static boolean isEarlierFile(String target, Set<String> files) {
        String path;
        try {
            path = normalise(target, "");
        } catch (InvalidPackageException absoluteOrDotDot) {
            return false;
        }
        return files.contains(path);
    }

    /** "a/./b/" → "a/b"; absolute or {@code ..} is refused. */
    private static String normalise(String name, String where) {
        if (name.startsWith("/")) {
            throw reject(where, name, "an absolute path");
        }
        Deque<String> parts = new ArrayDeque<>();
        for (String part : name.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                throw reject(where, name, "a path with ..");
            }
            parts.addLast(part);
        }
        return String.join("/", parts);
    }

    private static String parentOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }

    private static InvalidPackageException reject(String where, String entry, String why) {
        String shown = entry.length() > 200 ? entry.substring(0, 200) + "..." : entry;
        return new InvalidPackageException(where + ": workspace tar entry \"" + shown + "\" rejected: " + why);
    }
}
