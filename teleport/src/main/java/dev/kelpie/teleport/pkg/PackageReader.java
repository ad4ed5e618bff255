package dev.kelpie.teleport.pkg;

import dev.kelpie.teleport.store.PackageIds;
import dev.kelpie.teleport.store.PackageStore;
import dev.kelpie.teleport.store.PackageTooLargeException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads packages from any store through the same checks: a checked manifest, then verified blobs. */
public final class PackageReader {

    private final ManifestCodec codec = new ManifestCodec();

    /** A manifest with its bytes as stored (Inspect shows them verbatim). */
    public record StoredManifest(PackageManifest manifest, byte[] bytes) {}

    /**
     * @throws IllegalArgumentException for an id that cannot name a package
     * @throws PackageNotFoundException when the store has no such package
     * @throws InvalidPackageException when the manifest is not valid
     */
    public StoredManifest readManifest(PackageStore store, String id) throws IOException {
        PackageIds.checkId(id);
        String where = where(store, id);
        byte[] bytes;
        try {
            bytes = store.readManifest(id, ManifestCodec.MAX_MANIFEST_BYTES)
                    .orElseThrow(() -> new PackageNotFoundException(id, store.name()));
        } catch (PackageTooLargeException e) {
            throw new InvalidPackageException(where + ": " + e.getMessage(), e);
        }
        PackageManifest manifest = codec.read(bytes, where);
        if (!manifest.id().equals(id)) {
            throw new InvalidPackageException(where + ": manifest names package " + manifest.id());
        }
        return new StoredManifest(manifest, bytes);
    }

    /**
     * Writes blob {@code name}, decompressed and verified, to {@code target} (zero blocks as holes).
     *
     * @throws CorruptPackageException when the blob is missing or differs from the manifest
     */
    public void extract(PackageStore store, PackageManifest manifest, String name, Path target) throws IOException {
        String where = where(store, manifest.id());
        BlobRef blob = manifest.blob(name)
                .orElseThrow(() -> new InvalidPackageException(where + ": manifest lists no blob " + name));
        try (InputStream in = open(store, manifest.id(), name, where)) {
            BlobExtractor.extract(blob, in, target, where);
        }
    }

    /** Reads every blob through and checks it against the manifest. */
    public void verifyAll(PackageStore store, PackageManifest manifest) throws IOException {
        String where = where(store, manifest.id());
        for (BlobRef blob : manifest.blobs()) {
            try (InputStream in = open(store, manifest.id(), blob.name(), where)) {
                BlobExtractor.verify(blob, in, where);
            }
        }
    }

    private static InputStream open(PackageStore store, String id, String name, String where) throws IOException {
        try {
            return store.openBlob(id, name);
        } catch (NoSuchFileException e) {
            throw new CorruptPackageException(where + ": blob " + name + " is missing from the store", e);
        }
    }

    private static String where(PackageStore store, String id) {
        return "package " + id + " in store " + store.name();
    }
}
