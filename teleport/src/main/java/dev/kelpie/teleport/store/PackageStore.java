package dev.kelpie.teleport.store;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Where teleport packages live: a local directory or an S3-compatible bucket. A package is a manifest
 * ({@value #MANIFEST_NAME}) and its blobs ({@value #BLOBS_DIR}/NAME). Stores move bytes only; what they mean and
 * whether they are intact is the reader's business, so every store is checked by the same code.
 *
 * <p>Publishing is atomic for readers: a package is listed and readable exactly when its whole manifest is, and the
 * manifest is written last. A failed publish leaves nothing a reader can see, and removes what it wrote.
 */
public interface PackageStore {

    String MANIFEST_NAME = "manifest.json";
    String BLOBS_DIR = "blobs";

    /** The store's name in the daemon's configuration. */
    String name();

    /** Where it is, for messages: a directory or {@code s3://bucket/prefix}. */
    String location();

    /** Whether what is published here is sealed (encrypted and authenticated under a key only its holders have). */
    default boolean sealed() {
        return false;
    }

    /**
     * Publishes the package in {@code packageDir} ({@value #MANIFEST_NAME} plus {@value #BLOBS_DIR}/*) under
     * {@code id}. {@code packageDir} is left as it was.
     *
     * @throws PackageExistsException when {@code id} is already published
     */
    void publish(String id, Path packageDir) throws IOException;

    /** Ids of the published packages, in no particular order. */
    List<String> list() throws IOException;

    /**
     * The manifest's bytes, or empty when no package {@code id} is published.
     *
     * @throws PackageTooLargeException when the manifest is longer than {@code maxBytes} (it is not read)
     */
    Optional<byte[]> readManifest(String id, int maxBytes) throws IOException;

    /**
     * Opens one blob of a published package.
     *
     * @throws java.nio.file.NoSuchFileException when the package or the blob is missing
     */
    InputStream openBlob(String id, String blobName) throws IOException;

    /** Removes the package (the manifest first, so readers never see a package without its blobs); false if absent. */
    boolean delete(String id) throws IOException;
}
