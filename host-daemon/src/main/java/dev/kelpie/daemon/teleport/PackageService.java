package dev.kelpie.daemon.teleport;

import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.teleport.pkg.InvalidPackageException;
import dev.kelpie.teleport.pkg.PackageArchive;
import dev.kelpie.teleport.pkg.PackageManifest;
import dev.kelpie.teleport.pkg.PackageNotFoundException;
import dev.kelpie.teleport.pkg.PackageReader;
import dev.kelpie.teleport.store.FileTrees;
import dev.kelpie.teleport.store.PackageStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.jboss.logging.Logger;

/**
 * Packages at rest: list, inspect, delete, and moving them between stores and hosts. A package travels as the archive
 * {@link PackageArchive} writes; whoever receives one verifies every blob before publishing it, so a copy or import
 * either publishes the intact package or nothing.
 */
public final class PackageService {

    private static final Logger LOG = Logger.getLogger(PackageService.class);
    private static final int PIPE_BUFFER_BYTES = 1024 * 1024;

    private final PackageStores stores;
    private final StagingArea staging;
    private final long maxPackageBytes;
    private final Consumer<String> memoryForgotten;
    private final PackageReader reader = new PackageReader();

    public PackageService(PackageStores stores, StagingArea staging) {
        this(stores, staging, Long.MAX_VALUE);
    }

    public PackageService(PackageStores stores, StagingArea staging, long maxPackageBytes) {
        this(stores, staging, maxPackageBytes, memoryKey -> {});
    }

    /**
     * @param maxPackageBytes the largest package an import or copy takes (the sum of its blobs)
     * @param memoryForgotten told the memory blob's sha256 of a deleted package, whose frozen RAM can go
     */
    public PackageService(PackageStores stores, StagingArea staging, long maxPackageBytes,
            Consumer<String> memoryForgotten) {
        this.stores = stores;
        this.staging = staging;
        this.maxPackageBytes = maxPackageBytes;
        this.memoryForgotten = memoryForgotten;
    }

    /**
     * The store a request names, resolved once per request and passed to the methods below.
     *
     * @param name empty for the default store
     * @throws dev.kelpie.daemon.errors.InvalidRequestException naming the configured stores when there is no such store
     */
    public PackageStore store(String name) {
        return stores.get(name);
    }

    /** Readable packages of a store, newest first; unreadable ones are logged and left out. */
    public List<PackageManifest> list(PackageStore store) throws IOException {
        List<PackageManifest> found = new ArrayList<>();
        for (String id : store.list()) {
            try {
                found.add(reader.readManifest(store, id).manifest());
            } catch (InvalidPackageException | PackageNotFoundException | IllegalArgumentException e) {
                LOG.warnf("store %s: skipping package %s: %s", store.name(), id, e.getMessage());
            }
        }
        found.sort(Comparator.comparingLong(PackageManifest::createdAtUnixMs).reversed()
                .thenComparing(PackageManifest::id));
        return found;
    }

    public PackageReader.StoredManifest inspect(String id, PackageStore store) throws IOException {
        return reader.readManifest(store, id);
    }

    public void delete(String id, PackageStore store) throws IOException {
        dev.kelpie.teleport.store.PackageIds.checkId(id);
        // Read first: once deleted, nothing says which frozen memory was this package's.
        Optional<String> memoryKey = Optional.empty();
        try {
            memoryKey = reader.readManifest(store, id).manifest().blob(dev.kelpie.teleport.pkg.BlobNames.VM_MEMORY)
                    .map(dev.kelpie.teleport.pkg.BlobRef::sha256);
        } catch (IOException | RuntimeException e) {
            // A damaged or missing manifest: the delete below says what is wrong; nothing was frozen from it anyway.
        }
        if (!store.delete(id)) {
            throw new PackageNotFoundException(id, store.name());
        }
        memoryKey.ifPresent(memoryForgotten);
        LOG.infof("package %s deleted from store %s", id, store.name());
    }

    /** Writes the package as one archive. */
    public void export(String id, PackageStore store, OutputStream out) throws IOException {
        PackageReader.StoredManifest stored = reader.readManifest(store, id);
        PackageArchive.write(store, id, stored.manifest(), stored.bytes(), out);
    }

    /** Reads an archive, verifies every blob, publishes it under its own id. */
    public PackageManifest importArchive(InputStream archive, PackageStore store) throws IOException {
        Path work = staging.newDirectory("import");
        try {
            Path dir = work.resolve("package");
            PackageManifest manifest = PackageArchive.unpack(archive, dir, "imported package", maxPackageBytes);
            store.publish(manifest.id(), dir);
            LOG.infof("package %s imported into store %s", manifest.id(), store.name());
            return manifest;
        } finally {
            FileTrees.deleteUnchecked(work);
        }
    }

    /** Copies a package between stores, through the same archive and checks an import uses. */
    public PackageManifest copy(String id, PackageStore from, PackageStore to) throws IOException, InterruptedException {
        if (from == to) {
            throw new InvalidRequestException("copy needs two different stores; both are " + from.name());
        }
        PackageReader.StoredManifest stored = reader.readManifest(from, id);
        PipedInputStream in = new PipedInputStream(PIPE_BUFFER_BYTES);
        PipedOutputStream pipe = new PipedOutputStream(in);
        CompletableFuture<Void> written = new CompletableFuture<>();
        Thread.ofVirtual().name("package-copy-" + id).start(() -> {
            try (OutputStream out = pipe) {
                PackageArchive.write(from, id, stored.manifest(), stored.bytes(), out);
                written.complete(null);
            } catch (Throwable t) {
                written.completeExceptionally(t);
            }
        });
        PackageManifest copied;
        try (in) {
            copied = importArchive(in, to);
        } catch (IOException | RuntimeException e) {
            awaitQuietly(written);
            throw e;
        }
        try {
            written.get();
        } catch (ExecutionException e) {
            throw new IOException("reading package " + id + " from store " + from.name() + " failed: "
                    + e.getCause().getMessage(), e.getCause());
        }
        return copied;
    }

    private static void awaitQuietly(CompletableFuture<Void> future) throws InterruptedException {
        try {
            future.get();
        } catch (ExecutionException e) {
            // The import's failure is the one to report; the writer failed because the reader stopped.
        }
    }
}
