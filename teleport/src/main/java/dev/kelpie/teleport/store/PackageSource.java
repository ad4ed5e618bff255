package dev.kelpie.teleport.store;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * What a publish reads: the manifest and the blobs of a package directory, named and sized before a store writes
 * anything, so a bad name or a stray symlink fails the publish while the store is still untouched.
 *
 * <p>Stores read each entry through {@link PackageContent#open()} (possibly more than once, when a request is retried),
 * which lets tests hand in content that fails partway without touching the file system.
 */
record PackageSource(PackageContent manifest, List<NamedContent> blobs) {

    /** A blob and the name it is stored under (already checked by {@link PackageIds#checkBlobName}). */
    record NamedContent(String name, PackageContent content) {
        NamedContent {
            PackageIds.checkBlobName(name);
        }
    }

    PackageSource {
        blobs = List.copyOf(blobs);
    }

    /**
     * Scans {@code packageDir}: {@value PackageStore#MANIFEST_NAME} and optionally {@value PackageStore#BLOBS_DIR}/
     * with regular files only. Symlinks are refused rather than followed: a package is a copy of its bytes, never a
     * pointer to files elsewhere on the host.
     *
     * @throws IllegalArgumentException when a blob's name is not valid
     */
    static PackageSource scan(Path packageDir) throws IOException {
        if (!Files.isDirectory(packageDir)) {
            throw Files.exists(packageDir)
                    ? new NotDirectoryException(packageDir.toString())
                    : new NoSuchFileException(packageDir.toString(), null, "package directory is missing");
        }
        PackageContent manifest = null;
        List<NamedContent> blobs = List.of();
        for (Path entry : sortedEntries(packageDir)) {
            String name = entry.getFileName().toString();
            BasicFileAttributes attributes = attributesNoFollow(entry);
            if (name.equals(PackageStore.MANIFEST_NAME) && attributes.isRegularFile()) {
                manifest = PackageContent.ofFile(entry, attributes.size());
            } else if (name.equals(PackageStore.BLOBS_DIR) && attributes.isDirectory()) {
                blobs = scanBlobs(entry);
            } else {
                throw unexpected(entry, attributes);
            }
        }
        if (manifest == null) {
            throw new NoSuchFileException(packageDir.resolve(PackageStore.MANIFEST_NAME).toString(), null,
                    "a package directory needs its manifest");
        }
        return new PackageSource(manifest, blobs);
    }

    private static List<NamedContent> scanBlobs(Path blobsDir) throws IOException {
        List<NamedContent> blobs = new ArrayList<>();
        for (Path entry : sortedEntries(blobsDir)) {
            BasicFileAttributes attributes = attributesNoFollow(entry);
            if (!attributes.isRegularFile()) {
                throw unexpected(entry, attributes);
            }
            String name = entry.getFileName().toString();
            blobs.add(new NamedContent(name, PackageContent.ofFile(entry, attributes.size())));
        }
        return blobs;
    }

    private static List<Path> sortedEntries(Path dir) throws IOException {
        List<Path> entries = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
            stream.forEach(entries::add);
        }
        // Sorted so every publish of the same directory writes in the same order, which keeps failures reproducible.
        entries.sort(Comparator.comparing(p -> p.getFileName().toString()));
        return entries;
    }

    private static BasicFileAttributes attributesNoFollow(Path path) throws IOException {
        return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    }

    private static IOException unexpected(Path entry, BasicFileAttributes attributes) {
        String kind = attributes.isSymbolicLink() ? "a symbolic link"
                : attributes.isDirectory() ? "a directory"
                : attributes.isRegularFile() ? "a file" : "a special file";
        return new IOException(entry + " is " + kind + ", which a package may not hold; a package directory holds "
                + PackageStore.MANIFEST_NAME + " and regular files in " + PackageStore.BLOBS_DIR + "/ only");
    }

    /** Bytes to publish whose length is known up front (stores declare it before sending, and check it after). */
    interface PackageContent {

        long sizeBytes();

        /** A fresh stream over exactly {@link #sizeBytes()} bytes; fails rather than returning more or fewer. */
        InputStream open() throws IOException;

        /** Where the bytes come from, for messages. */
        String description();

        static PackageContent ofFile(Path file, long sizeBytes) {
            return new FileContent(file, sizeBytes);
        }
    }

    private record FileContent(Path file, long sizeBytes) implements PackageContent {

        @Override
        public InputStream open() throws IOException {
            // NOFOLLOW_LINKS again: the scan's check means nothing if the file is swapped for a link afterwards.
            return new ExactLengthInputStream(Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS), sizeBytes,
                    description());
        }

        @Override
        public String description() {
            return file.toString();
        }
    }
}
