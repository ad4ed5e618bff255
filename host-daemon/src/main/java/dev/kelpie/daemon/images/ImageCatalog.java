package dev.kelpie.daemon.images;

import dev.kelpie.daemon.images.cache.CachedImage;
import dev.kelpie.daemon.images.cache.ImageCache;
import dev.kelpie.daemon.images.pull.ImagePuller;
import dev.kelpie.teleport.ImageVersion;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;

/**
 * Every image the daemon can boot: the cache first, then local image directories served in place (a developer's
 * fresh build). A version in neither is pulled into the cache first when pull-on-create is on. Every image is
 * checked against this host before it boots.
 */
public final class ImageCatalog implements ImageSource {

    private final ImageCache cache;
    private final LocalImageDirectory local;
    private final ImagePuller puller;
    private final ImageCompatibility compatibility;
    private final boolean pullMissing;
    private final Duration pullTimeout;

    public ImageCatalog(ImageCache cache, LocalImageDirectory local, ImagePuller puller,
            ImageCompatibility compatibility, boolean pullMissing, Duration pullTimeout) {
        this.cache = cache;
        this.local = local;
        this.puller = puller;
        this.compatibility = compatibility;
        this.pullMissing = pullMissing;
        this.pullTimeout = pullTimeout;
    }

    @Override
    public BootImage resolve(String version, String arch) {
        BootImage image = find(version, arch).orElseGet(() -> pullOrFail(version, arch));
        compatibility.checkBootable(image);
        return image;
    }

    private Optional<BootImage> find(String version, String arch) {
        List<BootImage> forArch = list().stream().filter(i -> i.arch().equals(arch)).toList();
        if (version == null || version.isEmpty()) {
            return forArch.stream().findFirst();
        }
        ImageVersion.parse(version); // rejects a malformed version with the grammar's own message
        return forArch.stream().filter(i -> i.version().equals(version)).findFirst();
    }

    private BootImage pullOrFail(String version, String arch) {
        if (version == null || version.isEmpty() || !pullMissing || puller.sources().isEmpty()) {
            List<BootImage> all = list();
            throw new ImageNotFoundException((version == null || version.isEmpty() ? "no " + arch + " image"
                    : "image " + version + " for " + arch + " is not") + " in the cache or the local image directories"
                    + (version != null && !version.isEmpty() && !pullMissing ? " (pulling on create is off)" : "")
                    + (all.isEmpty() ? "" : "; available: " + all.stream().map(i -> i.version() + "/" + i.arch())
                            .collect(Collectors.joining(", "))));
        }
        try {
            return puller.pull(version, arch, "", false, p -> {}).get(pullTimeout.toMillis(), TimeUnit.MILLISECONDS)
                    .boot();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            throw new ImageNotFoundException("image " + version + " for " + arch + " did not arrive within "
                    + pullTimeout.toSeconds() + " s; its pull goes on, try again later");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ImageNotFoundException("interrupted while pulling image " + version);
        }
    }

    @Override
    public List<BootImage> list() {
        List<BootImage> images = new ArrayList<>(cache.list().stream().map(CachedImage::boot).toList());
        for (BootImage i : local.list()) {
            if (images.stream().noneMatch(c -> c.version().equals(i.version()) && c.arch().equals(i.arch()))) {
                images.add(i);
            }
        }
        images.sort(Comparator.comparing((BootImage i) -> ImageVersion.parse(i.version())).reversed()
                .thenComparing(BootImage::arch));
        return images;
    }

    /** The cache, for the Images API. */
    public ImageCache cache() {
        return cache;
    }

    public LocalImageDirectory localImages() {
        return local;
    }

    public ImagePuller puller() {
        return puller;
    }
}
