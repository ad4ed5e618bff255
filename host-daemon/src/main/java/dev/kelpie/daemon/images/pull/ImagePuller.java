package dev.kelpie.daemon.images.pull;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.images.DamagedImageException;
import dev.kelpie.daemon.images.ImageCompatibility;
import dev.kelpie.daemon.images.ImageFile;
import dev.kelpie.daemon.images.ImageMetadata;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.InvalidImageException;
import dev.kelpie.daemon.images.cache.CachedImage;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.cache.StagedFile;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import dev.kelpie.daemon.images.trust.SignatureRejectedException;
import dev.kelpie.daemon.images.trust.TrustedKeys;
import dev.kelpie.teleport.ImageVersion;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * Pulls image releases into the cache: from the configured sources in order, trusting a release's {@code SHA256SUMS}
 * only under a valid signature from a trusted key, downloading the archive resumably, checking it against the signed
 * sum, unpacking and checking what it holds, and installing it in one step. Two pulls of the same image share one
 * download. Whatever fails, the cache is unchanged; only a broken transfer keeps its partial file, to resume.
 */
public final class ImagePuller {

    private static final Logger LOG = Logger.getLogger(ImagePuller.class);
    /** SHA256SUMS lists a handful of files; anything near this is not one. */
    private static final int MAX_CHECKSUMS_BYTES = 1 << 20;
    private static final int MAX_SIGNATURE_BYTES = 64 * 1024;

    private final List<ReleaseSource> sources;
    private final TrustedKeys trustedKeys;
    private final ImageCache cache;
    private final ImageCompatibility compatibility;
    private final ResumableDownload download;
    private final ObjectMapper json;
    private final SharedPulls<CachedImage> running;

    public ImagePuller(List<ReleaseSource> sources, TrustedKeys trustedKeys, ImageCache cache,
            ImageCompatibility compatibility, ObjectMapper json, Executor executor, ScheduledExecutorService watchdog,
            Duration stallTimeout, Duration progressInterval) {
        this.sources = List.copyOf(sources);
        this.trustedKeys = trustedKeys;
        this.cache = cache;
        this.compatibility = compatibility;
        this.json = json;
        this.running = new SharedPulls<>(executor);
        this.download = new ResumableDownload(watchdog, stallTimeout, progressInterval);
    }

    /** The ids of the keys whose signatures are trusted. */
    public List<String> trustedKeyIds() {
        return trustedKeys.keyIds();
    }

    /** The configured sources, in the order they are tried. */
    public List<ReleaseSource> sources() {
        return sources;
    }

    /**
     * Pulls {@code version} for {@code arch} unless it is cached, joining a pull of it already running.
     *
     * @param sourceName a configured source's name, or empty for all of them in order
     * @param anyArch whether an arch this daemon runs no guests of may be cached (for moving sandboxes elsewhere)
     * @param progress told of progress until the pull ends, from the pulling thread
     * @return completes with the cached image, or exceptionally with an {@link ImagePullException},
     *     {@link ImageNotFoundException} or another image exception saying why
     */
    public CompletableFuture<CachedImage> pull(String version, String arch, String sourceName, boolean anyArch,
            Consumer<PullProgress> progress) {
        ImageVersion.parse(version);
        List<ReleaseSource> chosen = choose(sourceName);
        var cached = cache.find(version, arch);
        if (cached.isPresent()) {
            return CompletableFuture.completedFuture(cached.get());
        }
        return running.join(CachedImage.key(version, arch), progress,
                reporter -> pullFromSources(version, arch, chosen, anyArch, reporter));
    }

    private List<ReleaseSource> choose(String sourceName) {
        if (sourceName == null || sourceName.isEmpty()) {
            if (sources.isEmpty()) {
                throw new ImageNotFoundException("no image sources are configured (kelpie.images.sources.*)");
            }
            return sources;
        }
        return List.of(sources.stream().filter(s -> s.name().equals(sourceName)).findFirst()
                .orElseThrow(() -> new InvalidRequestException("no image source named '" + sourceName
                        + "'; configured: " + sources.stream().map(ReleaseSource::name).collect(Collectors.joining(", ")))));
    }

    private CachedImage pullFromSources(String version, String arch, List<ReleaseSource> chosen, boolean anyArch,
            Consumer<PullProgress> progress) {
        List<String> notFound = new ArrayList<>();
        RuntimeException firstFailure = null;
        for (ReleaseSource source : chosen) {
            try {
                progress.accept(PullProgress.phase("resolving", source.location()));
                var release = source.find(version, arch);
                if (release.isEmpty()) {
                    notFound.add(source.location());
                    continue;
                }
                return pullRelease(source, release.get(), version, arch, anyArch, progress);
            } catch (ImagePullException e) {
                if (e.reason() == Reason.NOT_FOUND) {
                    notFound.add(e.getMessage());
                    continue;
                }
                LOG.warnf("pulling image %s/%s from %s failed: %s", version, arch, source.location(), e.getMessage());
                firstFailure = firstFailure == null ? e : firstFailure;
            } catch (RuntimeException e) {
                LOG.warnf("pulling image %s/%s from %s failed: %s", version, arch, source.location(), e.getMessage());
                firstFailure = firstFailure == null ? e : firstFailure;
            }
        }
        if (firstFailure != null) {
            throw firstFailure;
        }
        throw new ImageNotFoundException("image " + version + " for " + arch + " is in none of the image sources: "
                + String.join("; ", notFound));
    }

    private CachedImage pullRelease(ReleaseSource source, Release release, String version, String arch, boolean anyArch,
            Consumer<PullProgress> progress) {
        String archive = ReleaseFiles.archive(version, arch);
        if (release.size(archive).isEmpty()) {
            throw new ImagePullException(Reason.NOT_FOUND, release.location() + " has no " + archive);
        }
        byte[] checksums = readSmall(release, ReleaseFiles.CHECKSUMS, MAX_CHECKSUMS_BYTES);
        if (source.requiresSignature()) {
            if (release.size(ReleaseFiles.SIGNATURE).isEmpty()) {
                throw new ImagePullException(Reason.UNTRUSTED, release.location() + " has no " + ReleaseFiles.SIGNATURE
                        + "; its checksums cannot be trusted (a source may be marked allow-unsigned explicitly)");
            }
            String signature = new String(readSmall(release, ReleaseFiles.SIGNATURE, MAX_SIGNATURE_BYTES),
                    java.nio.charset.StandardCharsets.UTF_8);
            try {
                trustedKeys.verify(checksums, signature);
            } catch (SignatureRejectedException e) {
                throw new ImagePullException(Reason.UNTRUSTED, release.location() + ": " + ReleaseFiles.CHECKSUMS
                        + " is not trusted: " + e.getMessage());
            }
        } else {
            LOG.warnf("image source %s allows unsigned releases: trusting %s's checksums without a signature",
                    source.name(), release.location());
        }
        String sha256 = Sha256Sums.parse(checksums, release.location() + "/" + ReleaseFiles.CHECKSUMS).sha256(archive)
                .orElseThrow(() -> new ImagePullException(Reason.DAMAGED, release.location() + "/"
                        + ReleaseFiles.CHECKSUMS + " lists no " + archive));
        Path partial = cache.partialDownload(sha256);
        try {
            download.fetch(release, archive, release.size(archive).getAsLong(), sha256, partial, progress);
            progress.accept(PullProgress.phase("installing", archive));
            CachedImage image = unpackAndInstall(partial, source, version, arch, anyArch);
            Files.deleteIfExists(partial);
            return image;
        } catch (IOException e) {
            throw new UncheckedIOException("pulling " + archive + " into " + cache.root() + " failed: " + e.getMessage(), e);
        }
    }

    private CachedImage unpackAndInstall(Path archive, ReleaseSource source, String version, String arch,
            boolean anyArch) throws IOException {
        Path staging = cache.newStagingDir();
        try {
            List<StagedFile> files = ImageArchive.extract(archive, staging);
            Path metadataFile = staging.resolve(ImageMetadata.FILE_NAME);
            if (!Files.isRegularFile(metadataFile)) {
                throw new DamagedImageException(archive.getFileName() + " holds no metadata.json");
            }
            ImageMetadata metadata = ImageMetadata.parse(Files.readAllBytes(metadataFile), json,
                    "pulled image " + version);
            if (!metadata.version().equals(version) || !metadata.arch().equals(arch)) {
                throw new DamagedImageException("the archive of " + version + "/" + arch + " holds image "
                        + metadata.version() + "/" + metadata.arch());
            }
            requireListedFiles(metadata, files);
            compatibility.check(metadata, anyArch);
            return cache.install(metadata, files, source.location(), staging);
        } catch (IOException | RuntimeException e) {
            cache.discard(staging);
            Files.deleteIfExists(archive); // signed but unusable: fetching the same bytes again cannot help
            throw e;
        }
    }

    /** The boot files metadata.json lists must be in the archive with the sizes and hashes it lists. */
    private static void requireListedFiles(ImageMetadata metadata, List<StagedFile> files) {
        Map<String, StagedFile> staged = files.stream().collect(Collectors.toMap(StagedFile::name, f -> f));
        for (String name : metadata.bootFiles()) {
            if (!staged.containsKey(name)) {
                throw new InvalidImageException("image " + metadata.version() + " lacks " + name);
            }
        }
        for (ImageFile listed : metadata.files()) {
            StagedFile f = staged.get(listed.name());
            if (f == null || f.sizeBytes() != listed.sizeBytes() || !f.sha256().equals(listed.sha256())) {
                throw new DamagedImageException("image " + metadata.version() + ": " + listed.name()
                        + (f == null ? " is listed in metadata.json but not in the archive"
                                : " differs from metadata.json (" + f.sizeBytes() + " bytes, sha256 " + f.sha256() + ")"));
            }
        }
    }

    private static byte[] readSmall(Release release, String file, int maxBytes) {
        long size = release.size(file).orElseThrow(() -> new ImagePullException(Reason.DAMAGED,
                release.location() + " has no " + file));
        if (size > maxBytes) {
            throw new ImagePullException(Reason.DAMAGED, release.location() + "/" + file + " is " + size
                    + " bytes; no real one is over " + maxBytes);
        }
        try (InputStream in = release.open(file, 0)) {
            return in.readNBytes(maxBytes);
        } catch (IOException e) {
            throw new ImagePullException(Reason.UNAVAILABLE, "cannot read " + file + " from " + release.location()
                    + ": " + e.getMessage(), e);
        }
    }
}
