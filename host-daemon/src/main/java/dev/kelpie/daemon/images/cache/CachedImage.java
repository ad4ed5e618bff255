package dev.kelpie.daemon.images.cache;

import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageFile;
import dev.kelpie.daemon.images.ImageMetadata;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One image in the cache: its index entry, with every file resolved to its blob.
 *
 * @param source where it was pulled from ("github:owner/repo", "s3://bucket/prefix", "local:/dir")
 * @param files every file of the image as installed (the boot files and metadata.json)
 * @param blobs each file's blob path by file name
 */
public record CachedImage(ImageMetadata metadata, String source, long cachedAtUnixMs, List<ImageFile> files,
        Map<String, Path> blobs, Path indexFile) {

    public String version() {
        return metadata.version();
    }

    public String arch() {
        return metadata.arch();
    }

    /** "VERSION/ARCH", the key under which sandboxes and pools use an image. */
    public String key() {
        return key(version(), arch());
    }

    public static String key(String version, String arch) {
        return version + "/" + arch;
    }

    public long sizeBytes() {
        return files.stream().mapToLong(ImageFile::sizeBytes).sum();
    }

    public BootImage boot() {
        return metadata.toBootImage(indexFile.getParent(), blobs::get);
    }
}
