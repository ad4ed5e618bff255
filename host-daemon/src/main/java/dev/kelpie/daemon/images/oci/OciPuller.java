package dev.kelpie.daemon.images.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.images.IncompatibleImageException;
import dev.kelpie.daemon.images.cache.BlobHashing;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.pull.ImagePullException;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import dev.kelpie.daemon.images.pull.PullProgress;
import dev.kelpie.daemon.images.pull.ResumableDownload;
import dev.kelpie.daemon.images.pull.SharedPulls;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Pulls OCI images into the image cache: resolves a reference to the manifest for this host's platform, fetches its
 * config and layers with the same resumable, digest-checked download as release pulls, and publishes the image in one
 * step. Pulls of the same reference share one run, and concurrent pulls that need the same blob share its download.
 * A blob whose bytes differ from its digest is deleted and reported as damaged (DATA_LOSS); a broken transfer keeps
 * its partial file so the next pull resumes it.
 */
public final class OciPuller {

    private static final Logger LOG = Logger.getLogger(OciPuller.class);
    /** Real manifests and configs are kilobytes; this bounds what a hostile registry can make the daemon parse. */
    private static final int MAX_MANIFEST_BYTES = 4 << 20;
    private static final long MAX_CONFIG_BYTES = 8 << 20;

    private final OciRegistryClient client;
    private final OciImageStore store;
    private final ResumableDownload download;
    private final ObjectMapper json;
    private final Clock clock;
    private final OciPlatform host;
    private final SharedPulls<OciImage> running;
    private final Map<String, CompletableFuture<Void>> blobDownloads = new ConcurrentHashMap<>();

    public OciPuller(OciRegistryClient client, OciImageStore store, ResumableDownload download, ObjectMapper json,
            Executor executor, Clock clock, OciPlatform host) {
        this.client = client;
        this.store = store;
        this.download = download;
        this.json = json;
        this.running = new SharedPulls<>(executor);
        this.clock = clock;
        this.host = host;
    }

    /**
     * Pulls {@code reference} for this host's platform, joining a pull of it already running.
     *
     * @return completes with the cached image, or exceptionally with an {@link ImagePullException} (NOT_FOUND,
     *     DENIED, UNAVAILABLE, DAMAGED) or {@link IncompatibleImageException} (another platform, an unknown layer type)
     */
    public CompletableFuture<OciImage> pull(String reference, Consumer<PullProgress> progress) {
        OciReference ref = OciReference.parse(reference);
        return running.join(ref.toString(), progress, reporter -> {
            try {
                return pullNow(ref, reporter);
            } catch (IOException | RuntimeException e) {
                // The daemon's one line for it (ORAS's own are turned off: a stack trace per 401 and 404).
                LOG.warnf("pull of OCI image %s failed: %s", ref, e.getMessage());
                throw e;
            }
        });
    }

    private OciImage pullNow(OciReference ref, Consumer<PullProgress> progress) throws IOException {
        progress.accept(new PullProgress("resolving", ref.toString(), 0, 0, 0));
        Resolved resolved = resolve(ref);
        var cached = store.find(resolved.sha256);
        if (cached.isPresent()) {
            OciImage c = cached.get(); // this reference may have named another digest until now
            return store.install(new OciImage(c.manifestSha256(), c.manifestSizeBytes(), c.repository(),
                    List.of(ref.toString()), c.config(), c.configBlob(), c.layers(), clock.millis()), Map.of());
        }
        OciManifest manifest = resolved.manifest;
        if (manifest.config().sizeBytes() > MAX_CONFIG_BYTES) {
            throw new ImagePullException(Reason.DAMAGED, ref + ": the image config is " + manifest.config().sizeBytes()
                    + " bytes; no real one is over " + MAX_CONFIG_BYTES);
        }
        ImageCache cache = store.cache();
        Map<String, Path> downloads = new LinkedHashMap<>();
        // Not the shared partial name: another pull of a reference to the same digest may be writing that.
        Path manifestFile = cache.partialDownload(resolved.sha256).resolveSibling(resolved.sha256 + "."
                + java.util.UUID.randomUUID() + ".manifest");
        Files.write(manifestFile, resolved.bytes);
        downloads.put(resolved.sha256, manifestFile);
        try {
            fetchBlob(ref, manifest.config(), progress).ifPresent(p -> downloads.put(manifest.config().sha256(), p));
            Path configFile = downloads.getOrDefault(manifest.config().sha256(),
                    cache.blob(manifest.config().sha256()));
            OciImageConfig config = OciImageConfig.parse(OciManifest.read(Files.readAllBytes(configFile), json,
                    ref + "'s image config"));
            if (!host.runs(config.platform())) {
                throw new IncompatibleImageException(ref + " is an image for " + config.platform()
                        + "; this host runs " + host);
            }
            for (OciDescriptor layer : manifest.layers()) {
                fetchBlob(ref, layer, progress).ifPresent(p -> downloads.put(layer.sha256(), p));
            }
            progress.accept(new PullProgress("installing", ref.toString(), 0, 0, 0));
            return store.install(new OciImage(resolved.sha256, resolved.bytes.length, ref.repositoryName(),
                    List.of(ref.toString()), config, manifest.config(), manifest.layers(), clock.millis()), downloads);
        } catch (IOException | RuntimeException e) {
            if (e instanceof ImagePullException p && p.reason() == Reason.UNAVAILABLE) {
                Files.deleteIfExists(manifestFile); // the blobs' partial files stay: the next pull resumes them
            } else {
                discardPartials(downloads); // fetching the same bytes again cannot help
            }
            throw e;
        }
    }

    /** Resolves a tag or digest to the manifest for this host, checking every manifest against its digest. */
    private Resolved resolve(OciReference ref) {
        OciRegistryClient.FetchedManifest fetched = client.manifest(ref);
        String sha256 = checked(fetched.bytes(), ref.digest(), ref.toString());
        JsonNode root = OciManifest.read(fetched.bytes(), json, "the manifest of " + ref);
        String type = OciManifest.mediaType(fetched.mediaType(), root);
        if (OciManifest.INDEX_TYPES.contains(type)) {
            OciDescriptor chosen = OciManifest.pick(root, host, "the index of " + ref);
            OciReference at = ref.at(chosen.digest());
            fetched = client.manifest(at);
            sha256 = checked(fetched.bytes(), chosen.digest(), at.toString());
            root = OciManifest.read(fetched.bytes(), json, "the manifest of " + at);
            type = OciManifest.mediaType(fetched.mediaType(), root);
        }
        if (!OciManifest.MANIFEST_TYPES.contains(type)) {
            throw new IncompatibleImageException(ref + " is a '" + type + "', not an image manifest or index");
        }
        return new Resolved(sha256, fetched.bytes(), OciManifest.parse(sha256, root, "the manifest of " + ref));
    }

    private static String checked(byte[] bytes, String expectedDigest, String what) {
        if (bytes.length > MAX_MANIFEST_BYTES) {
            throw new ImagePullException(Reason.DAMAGED, "the manifest of " + what + " is " + bytes.length
                    + " bytes; no real one is over " + MAX_MANIFEST_BYTES);
        }
        MessageDigest digest = BlobHashing.newDigest();
        digest.update(bytes);
        String sha256 = BlobHashing.hex(digest);
        if (!expectedDigest.isEmpty() && !expectedDigest.equals("sha256:" + sha256)) {
            throw new ImagePullException(Reason.DAMAGED, "the manifest of " + what + " has digest sha256:" + sha256
                    + ", not the " + expectedDigest + " asked for");
        }
        return sha256;
    }

    /**
     * Downloads a blob unless the cache has it, sharing the download with any other pull that needs it.
     *
     * @return the verified download to adopt, or empty when the cache already holds the blob
     */
    private java.util.Optional<Path> fetchBlob(OciReference ref, OciDescriptor blob, Consumer<PullProgress> progress)
            throws IOException {
        ImageCache cache = store.cache();
        if (Files.exists(cache.blob(blob.sha256()))) {
            return java.util.Optional.empty();
        }
        Path partial = cache.partialDownload(blob.sha256());
        CompletableFuture<Void> mine = new CompletableFuture<>();
        CompletableFuture<Void> shared = blobDownloads.putIfAbsent(blob.sha256(), mine);
        if (shared != null) {
            try {
                shared.join();
            } catch (CompletionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
            return Files.exists(cache.blob(blob.sha256())) ? java.util.Optional.empty()
                    : java.util.Optional.of(partial);
        }
        try {
            download.fetch(new OciBlobRelease(client, ref, blob), blob.digest(), blob.sizeBytes(), blob.sha256(),
                    "the manifest of " + ref, partial, progress);
            mine.complete(null);
            return java.util.Optional.of(partial);
        } catch (IOException | RuntimeException e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            blobDownloads.remove(blob.sha256(), mine);
        }
    }

    private static void discardPartials(Map<String, Path> downloads) {
        for (Path p : downloads.values()) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove " + p + ": " + e.getMessage(), e);
            }
        }
    }

    private record Resolved(String sha256, byte[] bytes, OciManifest manifest) {}
}
