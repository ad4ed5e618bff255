package dev.kelpie.daemon.images.cache;

import dev.kelpie.daemon.errors.InvalidRequestException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kelpie.daemon.images.DamagedImageException;
import dev.kelpie.daemon.images.ImageFile;
import dev.kelpie.daemon.images.ImageInUseException;
import dev.kelpie.daemon.images.ImageMetadata;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.InvalidImageException;
import dev.kelpie.teleport.ImageVersion;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.jboss.logging.Logger;

/**
 * The image cache on disk: content-addressed blobs and one index file per image version and arch.
 *
 * <pre>
 *   ROOT/blobs/sha256/HEX          immutable file contents, shared between versions
 *   ROOT/index/VERSION/ARCH.json   which blobs make up an image, where it came from, when
 *   ROOT/downloads/HEX.partial     resumable downloads of archives, named by their expected sha256
 *   ROOT/staging/RANDOM/           archives being unpacked
 *   ROOT/oci/HEX.json              an OCI image by its manifest's sha256: the blobs of its manifest, config, layers
 *   ROOT/oci/HEX.ext4              its bootable root, built from the layers (a cache: rebuilt when missing)
 *   ROOT/oci/HEX.ext4.sha256       that root's sha256 (the same bytes on every host: a vm package pins it)
 * </pre>
 *
 * An image exists once its index file does. Blobs are renamed into place before the index is written atomically, so
 * a crash at any point leaves either the old state or the new one plus unreferenced blobs, which {@link #open()}
 * and {@link #remove} collect. Loading checks every blob's size; {@link #verify} re-hashes them.
 */
public final class ImageCache {

    private static final Logger LOG = Logger.getLogger(ImageCache.class);
    private static final int INDEX_FORMAT = 1;
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern ARCH = Pattern.compile("x86_64|aarch64");

    private final Path root;
    private final Path blobs;
    private final Path index;
    private final Path downloads;
    private final Path staging;
    private final Path oci;
    private final ObjectMapper json;
    private final Clock clock;

    public ImageCache(Path root, ObjectMapper json, Clock clock) {
        this.root = root;
        this.blobs = root.resolve("blobs").resolve("sha256");
        this.index = root.resolve("index");
        this.downloads = root.resolve("downloads");
        this.staging = root.resolve("staging");
        this.oci = root.resolve("oci");
        this.json = json;
        this.clock = clock;
    }

    public Path root() {
        return root;
    }

    /**
     * Creates the layout and collects what an interrupted install left: staging directories, half-written index
     * files and blobs no index references.
     */
    public synchronized void open() {
        try {
            for (Path dir : List.of(blobs, index, downloads, staging, oci)) {
                Files.createDirectories(dir);
            }
            try (Stream<Path> leftovers = Files.list(staging)) {
                for (Path dir : leftovers.toList()) {
                    deleteTree(dir);
                }
            }
            try (Stream<Path> halfWritten = Stream.concat(Files.find(index, 2, ImageCache::isHalfWritten),
                    Files.find(oci, 1, ImageCache::isHalfWritten))) {
                for (Path file : halfWritten.toList()) {
                    Files.delete(file);
                }
            }
            collectUnreferencedBlobs();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the image cache at " + root + ": " + e.getMessage(), e);
        }
    }

    /** Where a download of the archive whose sha256 is {@code sha256} lives until it is complete. */
    public Path partialDownload(String sha256) {
        requireHex(sha256);
        return downloads.resolve(sha256 + ".partial");
    }

    /** A fresh directory to unpack into; {@link #install} empties it, {@link #discard} removes it. */
    public Path newStagingDir() throws IOException {
        return Files.createDirectories(staging.resolve(UUID.randomUUID().toString()));
    }

    public void discard(Path stagingDir) {
        try {
            deleteTree(stagingDir);
        } catch (IOException e) {
            LOG.warnf("cannot remove staging directory %s: %s", stagingDir, e.getMessage());
        }
    }

    public Optional<CachedImage> find(String version, String arch) {
        Path file = indexFile(version, arch);
        return Files.isRegularFile(file) ? Optional.of(load(file)) : Optional.empty();
    }

    /** Cached images, newest version first; an unreadable entry is logged and left out. */
    public List<CachedImage> list() {
        List<CachedImage> images = new ArrayList<>();
        try (Stream<Path> files = Files.isDirectory(index) ? Files.find(index, 2, ImageCache::isIndexEntry)
                : Stream.empty()) {
            for (Path file : files.toList()) {
                try {
                    images.add(load(file));
                } catch (RuntimeException e) {
                    LOG.warnf("image cache entry %s is unusable: %s", file, e.getMessage());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the image cache at " + root + ": " + e.getMessage(), e);
        }
        images.sort(Comparator.comparing((CachedImage i) -> ImageVersion.parse(i.version())).reversed()
                .thenComparing(CachedImage::arch));
        return images;
    }

    /**
     * Moves staged files into blobs and publishes the index: after this returns the image is cached, before it the
     * cache is as it was. The staging directory is removed either way.
     */
    public synchronized CachedImage install(ImageMetadata metadata, Collection<StagedFile> files, String source,
            Path stagingDir) {
        try {
            requireKey(metadata.version(), metadata.arch());
            for (StagedFile f : files) {
                Path blob = blobs.resolve(requireHex(f.sha256()));
                if (Files.exists(blob)) {
                    continue; // identical content already cached by another version
                }
                f.path().toFile().setReadOnly();
                Files.move(f.path(), blob, StandardCopyOption.ATOMIC_MOVE);
            }
            ObjectNode entry = json.createObjectNode();
            entry.put("format", INDEX_FORMAT).put("version", metadata.version()).put("arch", metadata.arch())
                    .put("source", source).put("cached_at_unix_ms", clock.millis());
            ArrayNode list = entry.putArray("files");
            for (StagedFile f : files) {
                list.addObject().put("name", f.name()).put("size", f.sizeBytes()).put("sha256", f.sha256());
            }
            Path target = indexFile(metadata.version(), metadata.arch());
            Files.createDirectories(target.getParent());
            Path temp = target.resolveSibling("." + target.getFileName() + ".tmp");
            Files.write(temp, json.writerWithDefaultPrettyPrinter().writeValueAsBytes(entry));
            moveAtomically(temp, target);
            return load(target);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot install image " + metadata.version() + "/" + metadata.arch()
                    + " into " + root + ": " + e.getMessage(), e);
        } finally {
            discard(stagingDir);
        }
    }

    /**
     * Removes an image and the blobs no other image shares.
     *
     * @param inUse keys ({@link CachedImage#key}) of images sandboxes or pooled VMs boot from
     * @return bytes freed
     */
    public synchronized long remove(String version, String arch, Set<String> inUse) {
        CachedImage image = find(version, arch).orElseThrow(() -> new ImageNotFoundException(
                "image " + version + "/" + arch + " is not in the cache"));
        if (inUse.contains(image.key())) {
            throw new ImageInUseException("image " + image.key() + " is in use by a sandbox or a pooled VM; "
                    + "delete those first");
        }
        try {
            Files.delete(image.indexFile());
            deleteIfEmpty(image.indexFile().getParent());
            return collectUnreferencedBlobs();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove image " + image.key() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Keeps the newest {@code keepNewest} versions per arch and removes older ones that nothing uses.
     *
     * @return the removed images' keys and the bytes their blobs freed
     */
    public synchronized PruneResult prune(int keepNewest, Set<String> inUse) {
        Map<String, List<CachedImage>> byArch = new LinkedHashMap<>();
        for (CachedImage image : list()) {
            byArch.computeIfAbsent(image.arch(), a -> new ArrayList<>()).add(image);
        }
        List<String> removed = new ArrayList<>();
        long freedBytes = 0;
        for (List<CachedImage> images : byArch.values()) {
            for (CachedImage old : images.subList(Math.min(keepNewest, images.size()), images.size())) {
                if (!inUse.contains(old.key())) {
                    freedBytes += remove(old.version(), old.arch(), inUse);
                    removed.add(old.key());
                }
            }
        }
        return new PruneResult(removed, freedBytes);
    }

    /** The blob holding the content whose sha256 is {@code sha256}, present or not. */
    public Path blob(String sha256) {
        return blobs.resolve(requireHex(sha256));
    }

    /** The entry of the OCI image whose manifest's sha256 is {@code manifestSha256}, present or not. */
    public Path ociEntry(String manifestSha256) {
        return oci.resolve(requireHex(manifestSha256) + ".json");
    }

    /** The ext4 root built from the OCI image whose manifest's sha256 is {@code manifestSha256}, present or not. */
    public Path ociRoot(String manifestSha256) {
        return oci.resolve(requireHex(manifestSha256) + ".ext4");
    }

    /** The sha256 (hex) of {@link #ociRoot}, written before the root is published and removed after it. */
    public Path ociRootSha256(String manifestSha256) {
        return oci.resolve(requireHex(manifestSha256) + ".ext4.sha256");
    }

    /** The entries of cached OCI images. */
    public List<Path> ociEntries() {
        try (Stream<Path> files = Files.isDirectory(oci) ? Files.find(oci, 1, ImageCache::isIndexEntry)
                : Stream.empty()) {
            return files.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the image cache at " + root + ": " + e.getMessage(), e);
        }
    }

    /**
     * Moves verified downloads into blobs and publishes an OCI image's entry (which lists them under {@code files},
     * so that collection keeps them): after this returns the image is cached, before it the cache is as it was.
     *
     * @param downloads sha256 → a complete, verified file to adopt; blobs already present are kept and the file
     *     deleted
     * @param entry the entry's JSON; every blob it lists must be present or among {@code downloads}
     */
    public synchronized void installOci(String manifestSha256, Map<String, Path> downloads, byte[] entry) {
        try {
            for (var d : downloads.entrySet()) {
                Path blob = blob(d.getKey());
                if (Files.exists(blob)) {
                    Files.deleteIfExists(d.getValue());
                    continue;
                }
                d.getValue().toFile().setReadOnly();
                Files.move(d.getValue(), blob, StandardCopyOption.ATOMIC_MOVE);
            }
            for (JsonNode f : json.readTree(entry).path("files")) {
                if (!Files.exists(blob(f.path("sha256").asText()))) {
                    throw new IOException("blob " + f.path("sha256").asText() + " vanished before the image was "
                            + "published (removed by a concurrent prune); pulling again fetches it");
                }
            }
            Path target = ociEntry(manifestSha256);
            Path temp = target.resolveSibling("." + target.getFileName() + ".tmp");
            Files.write(temp, entry);
            moveAtomically(temp, target);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot install OCI image sha256:" + manifestSha256 + " into " + root
                    + ": " + e.getMessage(), e);
        }
    }

    /**
     * Removes an OCI image's entry and the blobs nothing else references.
     *
     * @return bytes freed
     */
    public synchronized long removeOci(String manifestSha256) {
        try {
            if (!Files.deleteIfExists(ociEntry(manifestSha256))) {
                throw new ImageNotFoundException("OCI image sha256:" + manifestSha256 + " is not in the cache");
            }
            Path builtRoot = ociRoot(manifestSha256);
            long rootBytes = Files.exists(builtRoot) ? Files.size(builtRoot) : 0;
            Files.deleteIfExists(builtRoot);
            Files.deleteIfExists(ociRootSha256(manifestSha256));
            return rootBytes + collectUnreferencedBlobs();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove OCI image sha256:" + manifestSha256 + ": " + e.getMessage(),
                    e);
        }
    }

    /** What a prune removed: image keys, and the bytes of the blobs no remaining image shares. */
    public record PruneResult(List<String> removed, long freedBytes) {}

    /**
     * Re-hashes every file of an image.
     *
     * @throws DamagedImageException naming the first file whose bytes differ from the index
     */
    public VerifyResult verify(String version, String arch) {
        CachedImage image = find(version, arch).orElseThrow(() -> new ImageNotFoundException(
                "image " + version + "/" + arch + " is not in the cache"));
        long hashed = 0;
        for (ImageFile f : image.files()) {
            Path blob = image.blobs().get(f.name());
            try {
                String actual = BlobHashing.sha256(blob);
                if (!actual.equals(f.sha256())) {
                    throw new DamagedImageException("image " + image.key() + ": " + f.name() + " has sha256 " + actual
                            + " but was installed as " + f.sha256() + "; remove the image and pull it again");
                }
            } catch (IOException e) {
                throw new DamagedImageException("image " + image.key() + ": cannot read " + f.name() + ": "
                        + e.getMessage());
            }
            hashed += f.sizeBytes();
        }
        return new VerifyResult(image.files().size(), hashed);
    }

    private CachedImage load(Path file) {
        JsonNode entry;
        try {
            entry = json.readTree(file.toFile());
        } catch (IOException e) {
            throw new InvalidImageException("image cache entry " + file + " is not valid JSON: " + e.getMessage());
        }
        if (entry.path("format").asInt(-1) != INDEX_FORMAT) {
            throw new InvalidImageException("image cache entry " + file + " has format "
                    + entry.path("format").asText("(none)") + "; this daemon reads " + INDEX_FORMAT);
        }
        String key = entry.path("version").asText() + "/" + entry.path("arch").asText();
        List<ImageFile> files = new ArrayList<>();
        Map<String, Path> paths = new LinkedHashMap<>();
        for (JsonNode f : entry.path("files")) {
            ImageFile listed = new ImageFile(f.path("name").asText(), f.path("size").asLong(-1), f.path("sha256").asText());
            Path blob = blobs.resolve(requireHex(listed.sha256()));
            long size;
            try {
                size = Files.size(blob);
            } catch (IOException e) {
                throw new DamagedImageException("image " + key + ": the blob of " + listed.name()
                        + " is missing; remove the image and pull it again");
            }
            if (size != listed.sizeBytes()) {
                throw new DamagedImageException("image " + key + ": " + listed.name() + " is " + size
                        + " bytes but was installed with " + listed.sizeBytes() + "; remove the image and pull it again");
            }
            files.add(listed);
            paths.put(listed.name(), blob);
        }
        Path metadataBlob = paths.get(ImageMetadata.FILE_NAME);
        if (metadataBlob == null) {
            throw new InvalidImageException("image cache entry " + file + " lists no metadata.json");
        }
        ImageMetadata metadata;
        try {
            metadata = ImageMetadata.from(json.readTree(metadataBlob.toFile()), "cached image " + key);
        } catch (IOException e) {
            throw new DamagedImageException("image " + key + ": metadata.json is unreadable: " + e.getMessage());
        }
        return new CachedImage(metadata, entry.path("source").asText(""), entry.path("cached_at_unix_ms").asLong(0),
                List.copyOf(files), Map.copyOf(paths), file);
    }

    private Path indexFile(String version, String arch) {
        requireKey(version, arch);
        return index.resolve(version).resolve(arch + ".json");
    }

    private long collectUnreferencedBlobs() throws IOException {
        Set<String> referenced = new HashSet<>();
        try (Stream<Path> files = Stream.concat(Files.find(index, 2, ImageCache::isIndexEntry),
                Files.isDirectory(oci) ? Files.find(oci, 1, ImageCache::isIndexEntry) : Stream.empty())) {
            for (Path file : files.toList()) {
                for (JsonNode f : json.readTree(file.toFile()).path("files")) {
                    referenced.add(f.path("sha256").asText());
                }
            }
        }
        long freed = 0;
        try (Stream<Path> all = Files.list(blobs)) {
            for (Path blob : all.toList()) {
                if (!referenced.contains(blob.getFileName().toString())) {
                    freed += Files.size(blob);
                    Files.delete(blob);
                }
            }
        }
        return freed;
    }

    private static boolean isHalfWritten(Path file, java.nio.file.attribute.BasicFileAttributes attributes) {
        return attributes.isRegularFile() && file.getFileName().toString().endsWith(".tmp");
    }

    /** Index entries, not the temporary files an interrupted write left beside them. */
    private static boolean isIndexEntry(Path file, java.nio.file.attribute.BasicFileAttributes attributes) {
        String name = file.getFileName().toString();
        return attributes.isRegularFile() && name.endsWith(".json") && !name.startsWith(".");
    }

    private static void requireKey(String version, String arch) {
        ImageVersion.parse(version); // the grammar admits no path separators
        if (!ARCH.matcher(arch).matches()) {
            throw new InvalidRequestException("unknown arch '" + arch + "': expected x86_64 or aarch64");
        }
    }

    private static String requireHex(String sha256) {
        if (!SHA256_HEX.matcher(sha256).matches()) {
            throw new InvalidImageException("'" + sha256 + "' is not a lowercase hex sha256");
        }
        return sha256;
    }

    private static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException | FileAlreadyExistsException e) {
            throw new IOException("cannot publish " + to + " atomically: " + e.getMessage(), e);
        }
    }

    private static void deleteIfEmpty(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            if (entries.findAny().isEmpty()) {
                Files.delete(dir);
            }
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
