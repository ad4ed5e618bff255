package dev.kelpie.teleport.store;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Packages in a local directory, the embedded default: {@code ROOT/ID/manifest.json} and {@code ROOT/ID/blobs/NAME}.
 *
 * <p>A publish assembles the package in {@code ROOT/.staging/ID.RANDOM/}, flushes it to disk, then renames the
 * whole directory to {@code ROOT/ID} in one atomic step, so a package exists exactly when its directory does with a
 * manifest in it. Two publishes of one id race on that rename; the file system picks the winner.
 */
public final class LocalPackageStore implements PackageStore {

    /** Where publishes assemble and deletes dismantle packages; dot-named, so never a valid id. */
    static final String STAGING_DIR = ".staging";
    private static final String DELETED_SUFFIX = ".deleted";
    private static final int RANDOM_SUFFIX_BYTES = 8;

    private final String name;
    private final Path root;
    private final Path staging;

    private LocalPackageStore(String name, Path root) {
        this.name = name;
        this.root = root;
        this.staging = root.resolve(STAGING_DIR);
    }

    /**
     * Opens the store at {@code root}, creating it if needed, and removes what a crash left behind: everything under
     * {@value #STAGING_DIR} and package directories without a manifest (a delete interrupted between its two
     * steps). The caller must be the store's only user while it opens (the daemon's state-directory lock sees to that),
     * since a publish in flight elsewhere would look like such leftovers.
     */
    public static LocalPackageStore open(String name, Path root) throws IOException {
        Path absoluteRoot = root.toAbsolutePath().normalize();
        LocalPackageStore store = new LocalPackageStore(name, absoluteRoot);
        Files.createDirectories(absoluteRoot);
        if (Files.exists(store.staging, LinkOption.NOFOLLOW_LINKS)) {
            deleteTree(store.staging);
        }
        Files.createDirectory(store.staging);
        store.removeUnpublishedDirectories();
        return store;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String location() {
        return root.toString();
    }

    @Override
    public void publish(String id, Path packageDir) throws IOException {
        PackageIds.checkId(id);
        publish(id, PackageSource.scan(packageDir));
    }

    void publish(String id, PackageSource source) throws IOException {
        PackageIds.checkId(id);
        Path target = root.resolve(id);
        // Checked up front only to skip a pointless copy; the rename below is what actually decides.
        if (Files.exists(target.resolve(MANIFEST_NAME), LinkOption.NOFOLLOW_LINKS)) {
            throw exists(id);
        }
        Path assembly = staging.resolve(id + "." + randomSuffix());
        try {
            assemble(source, assembly);
            moveIntoPlace(id, assembly, target);
        } catch (PackageExistsException | Error e) {
            removeAfterFailure(assembly, e);
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new IOException("publishing package " + id + " to " + root + " failed (" + e.getMessage() + "); "
                    + removeAfterFailure(assembly, e), e);
        }
        // The rename is only durable once the root's entries are flushed too.
        Fsync.directory(root);
    }

    @Override
    public List<String> list() throws IOException {
        List<String> ids = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root)) {
            for (Path entry : entries) {
                String candidate = entry.getFileName().toString();
                if (isPackageName(candidate) && hasManifest(entry)) {
                    ids.add(candidate);
                }
            }
        }
        return ids;
    }

    @Override
    public Optional<byte[]> readManifest(String id, int maxBytes) throws IOException {
        PackageIds.checkId(id);
        if (maxBytes < 0) {
            throw new IllegalArgumentException("maxBytes must not be negative, was " + maxBytes);
        }
        Path manifest = root.resolve(id).resolve(MANIFEST_NAME);
        try (FileChannel channel = FileChannel.open(manifest, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            long sizeBytes = channel.size();
            if (sizeBytes > maxBytes) {
                throw new PackageTooLargeException(manifest + " is " + sizeBytes + " bytes, more than the " + maxBytes
                        + " bytes allowed; it was not read");
            }
            return Optional.of(Channels.newInputStream(channel).readNBytes((int) sizeBytes));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    @Override
    public InputStream openBlob(String id, String blobName) throws IOException {
        PackageIds.checkId(id);
        PackageIds.checkBlobName(blobName);
        Path packageDir = root.resolve(id);
        // Blobs of an unpublished directory (a delete in progress) are not part of any package.
        if (!hasManifest(packageDir)) {
            throw new NoSuchFileException(packageDir.toString(), null, "no package " + id + " in store " + name);
        }
        return Files.newInputStream(packageDir.resolve(BLOBS_DIR).resolve(blobName), LinkOption.NOFOLLOW_LINKS);
    }

    @Override
    public boolean delete(String id) throws IOException {
        PackageIds.checkId(id);
        Path packageDir = root.resolve(id);
        if (!Files.deleteIfExists(packageDir.resolve(MANIFEST_NAME))) {
            return false;
        }
        // The manifest's removal must reach the disk before any blob's does: a crash in between must leave no package
        // rather than a listed one with missing blobs.
        Fsync.directory(packageDir);
        // Moved aside in one step, so the id is free for a new publish while the old blobs are still being removed.
        Path doomed = staging.resolve(id + "." + randomSuffix() + DELETED_SUFFIX);
        Files.move(packageDir, doomed, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(doomed);
        return true;
    }

    @Override
    public String toString() {
        return "LocalPackageStore[" + name + " at " + root + "]";
    }

    private static void assemble(PackageSource source, Path assembly) throws IOException {
        Files.createDirectory(assembly);
        Path blobsDir = Files.createDirectory(assembly.resolve(BLOBS_DIR));
        for (PackageSource.NamedContent blob : source.blobs()) {
            copy(blob.content(), blobsDir.resolve(blob.name()));
        }
        Fsync.directory(blobsDir);
        copy(source.manifest(), assembly.resolve(MANIFEST_NAME));
        Fsync.directory(assembly);
    }

    private void moveIntoPlace(String id, Path assembly, Path target) throws IOException {
        try {
            Files.move(assembly, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // rename(2) refuses a non-empty target (ENOTEMPTY, which the JDK reports as a plain FileSystemException):
            // another publish of this id got there first, or a delete of it is still moving it aside.
            if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                throw e;
            }
            PackageExistsException exists = exists(id);
            exists.initCause(e);
            throw exists;
        }
    }

    private static void copy(PackageSource.PackageContent content, Path file) throws IOException {
        try (InputStream in = content.open();
                FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            in.transferTo(Channels.newOutputStream(out));
            out.force(true);
        }
    }

    private PackageExistsException exists(String id) {
        return new PackageExistsException("package " + id + " already exists in store " + name + " (" + root + ")");
    }

    private void removeUnpublishedDirectories() throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root)) {
            for (Path entry : entries) {
                String candidate = entry.getFileName().toString();
                if (isPackageName(candidate) && Files.isDirectory(entry, LinkOption.NOFOLLOW_LINKS)
                        && !hasManifest(entry)) {
                    deleteTree(entry);
                }
            }
        }
    }

    private static boolean hasManifest(Path packageDir) {
        return Files.isRegularFile(packageDir.resolve(MANIFEST_NAME), LinkOption.NOFOLLOW_LINKS);
    }

    /** Stray names (dot-directories, other files someone put there) are not packages; they are skipped, not errors. */
    private static boolean isPackageName(String candidate) {
        try {
            PackageIds.checkId(candidate);
            return true;
        } catch (IllegalArgumentException notAnId) {
            return false;
        }
    }

    private static String removeAfterFailure(Path dir, Throwable failure) {
        try {
            if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                deleteTree(dir);
            }
            return "what it had copied was removed";
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
            return "removing " + dir + " failed too (see suppressed); reopening the store removes it";
        }
    }

    private static String randomSuffix() {
        byte[] bytes = new byte[RANDOM_SUFFIX_BYTES];
        ThreadLocalRandom.current().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    private static void deleteTree(Path dir) throws IOException {
        FileTrees.delete(dir);
    }
}
