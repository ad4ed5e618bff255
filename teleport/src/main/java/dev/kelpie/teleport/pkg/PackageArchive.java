package dev.kelpie.teleport.pkg;

import dev.kelpie.teleport.store.PackageIds;
import dev.kelpie.teleport.store.PackageStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * A package as one stream, to move it to a host that shares no store: a tar of {@value PackageStore#MANIFEST_NAME}
 * followed by {@code blobs/NAME}, exactly the store layout. Unpacking accepts nothing else and checks every blob
 * against the manifest before the caller publishes the result.
 */
public final class PackageArchive {

    private PackageArchive() {}

    /** Writes a published package; blobs are copied as stored (already compressed, already hashed). */
    public static void write(PackageStore store, String id, PackageManifest manifest, byte[] manifestBytes,
            OutputStream out) throws IOException {
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            TarArchiveEntry head = new TarArchiveEntry(PackageStore.MANIFEST_NAME);
            head.setSize(manifestBytes.length);
            tar.putArchiveEntry(head);
            tar.write(manifestBytes);
            tar.closeArchiveEntry();
            for (BlobRef blob : manifest.blobs()) {
                TarArchiveEntry entry = new TarArchiveEntry(PackageStore.BLOBS_DIR + "/" + blob.name());
                entry.setSize(blob.sizeBytes());
                tar.putArchiveEntry(entry);
                try (InputStream in = store.openBlob(id, blob.name())) {
                    long copied = in.transferTo(tar);
                    if (copied != blob.sizeBytes()) {
                        throw new CorruptPackageException("package " + id + ": blob " + blob.name() + " is " + copied
                                + " bytes in store " + store.name() + ", the manifest says " + blob.sizeBytes());
                    }
                }
                tar.closeArchiveEntry();
            }
            tar.finish();
        }
    }

    /**
     * Unpacks an archive into {@code dir} (which must not exist) and verifies every blob.
     *
     * @return the manifest, checked
     * @throws InvalidPackageException when the archive is not a package (not a tar, unknown entries, no manifest first)
     * @throws CorruptPackageException when a blob differs from the manifest or is missing
     * @throws IOException only when reading {@code archive} or writing {@code dir} fails
     */
    public static PackageManifest unpack(InputStream archive, Path dir, String where) throws IOException {
        return unpack(archive, dir, where, Long.MAX_VALUE);
    }

    /**
     * Like {@link #unpack(InputStream, Path, String)}, refusing a package whose blobs claim more than
     * {@code maxPackageBytes} or than the free space beside {@code dir}.
     *
     * @throws PackageSizeLimitException when it is, before anything is written
     */
    public static PackageManifest unpack(InputStream archive, Path dir, String where, long maxPackageBytes)
            throws IOException {
        ManifestCodec codec = new ManifestCodec();
        Path blobsDir = dir.resolve(PackageStore.BLOBS_DIR);
        PackageManifest manifest = null;
        Set<String> seen = new HashSet<>();
        try (UntrustedTar tar = new UntrustedTar(archive, where + ": the archive")) {
            TarArchiveEntry entry;
            while ((entry = tar.nextEntry()) != null) {
                if (manifest == null) {
                    if (!entry.getName().equals(PackageStore.MANIFEST_NAME) || !entry.isFile()) {
                        throw new InvalidPackageException(where + ": the archive must start with "
                                + PackageStore.MANIFEST_NAME + ", found \"" + abbreviate(entry.getName()) + "\"");
                    }
                    if (entry.getSize() > ManifestCodec.MAX_MANIFEST_BYTES) {
                        throw new InvalidPackageException(where + ": manifest of " + entry.getSize() + " bytes exceeds "
                                + ManifestCodec.MAX_MANIFEST_BYTES);
                    }
                    byte[] bytes = tar.content().readAllBytes();
                    manifest = codec.read(bytes, where);
                    // What the manifest claims is judged before a byte is written: a lie only costs its reader.
                    admitSize(manifest, dir.getParent(), maxPackageBytes, where);
                    Files.createDirectory(dir);
                    Files.createDirectory(blobsDir);
                    Files.write(dir.resolve(PackageStore.MANIFEST_NAME), bytes);
                    continue;
                }
                String name = entry.getName().startsWith(PackageStore.BLOBS_DIR + "/")
                        ? entry.getName().substring(PackageStore.BLOBS_DIR.length() + 1) : null;
                BlobRef blob = name == null ? null : manifest.blob(name).orElse(null);
                if (blob == null || !entry.isFile() || !seen.add(name)) {
                    throw new InvalidPackageException(where + ": unexpected archive entry \"" + abbreviate(entry.getName())
                            + "\" (only the manifest's blobs, once each, may follow it)");
                }
                if (entry.getSize() != blob.sizeBytes()) {
                    // Refused before a byte is written: an archive that lies about a blob must not fill the disk first.
                    throw new CorruptPackageException(where + ": blob " + name + " is " + entry.getSize()
                            + " bytes in the archive, the manifest says " + blob.sizeBytes());
                }
                PackageIds.checkBlobName(name);
                Path target = blobsDir.resolve(name);
                try (OutputStream out = Files.newOutputStream(target)) {
                    tar.content().transferTo(out);
                }
                try (InputStream in = Files.newInputStream(target)) {
                    BlobExtractor.verify(blob, in, where);
                }
            }
            // The sender's trailing padding is read too, so that it never finds the stream closed under it.
            archive.transferTo(OutputStream.nullOutputStream());
        }
        if (manifest == null) {
            throw new InvalidPackageException(where + ": the archive is empty or not a tar");
        }
        for (BlobRef blob : manifest.blobs()) {
            if (!seen.contains(blob.name())) {
                throw new CorruptPackageException(where + ": blob " + blob.name() + " is missing from the archive");
            }
        }
        return manifest;
    }

    /** Staging keeps this much free beside a package: the daemon's records and logs share the disk. */
    static final long STAGING_HEADROOM_BYTES = 64L * 1024 * 1024;

    private static void admitSize(PackageManifest manifest, Path staging, long maxPackageBytes, String where)
            throws IOException {
        long claimed = 0;
        for (BlobRef blob : manifest.blobs()) {
            claimed = Math.addExact(claimed, blob.sizeBytes()); // each is at most MAX_BLOB_BYTES, 64 of them
        }
        if (claimed > maxPackageBytes) {
            throw new PackageSizeLimitException(where + ": its blobs claim " + claimed + " bytes; this daemon takes"
                    + " packages of up to " + maxPackageBytes + " bytes (kelpie.teleport.max-package-bytes)");
        }
        long usable = Files.getFileStore(staging).getUsableSpace();
        if (claimed + STAGING_HEADROOM_BYTES > usable) {
            throw new PackageSizeLimitException(where + ": its blobs claim " + claimed + " bytes and staging ("
                    + staging + ") has " + usable + " bytes free");
        }
    }

    private static String abbreviate(String text) {
        return text.length() <= 80 ? text : text.substring(0, 77) + "...";
    }
}
