package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A package's manifest ({@code manifest.json}): what it holds, what it was taken on, and every blob's size and hash.
 * Written last when a package is published, so a readable manifest means a complete package.
 *
 * @param formatVersion {@value #FORMAT_VERSION} for packages this code writes; readers refuse others
 * @param platform the VMM the sandbox ran under (its VM state only resumes under an equal one)
 */
public record PackageManifest(@JsonProperty("format_version") int formatVersion, @JsonProperty("id") String id,
        @JsonProperty("kind") PackageKind kind, @JsonProperty("base_image") BaseImageRef baseImage,
        @JsonProperty("platform") PlatformRef platform, @JsonProperty("created_at_unix_ms") long createdAtUnixMs,
        @JsonProperty("source_sandbox") SourceSandbox sourceSandbox, @JsonProperty("labels") Map<String, String> labels,
        @JsonProperty("blobs") List<BlobRef> blobs) {

    public static final int FORMAT_VERSION = 1;

    public PackageManifest {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        blobs = blobs == null ? List.of() : List.copyOf(blobs);
    }

    public Optional<BlobRef> blob(String name) {
        return blobs.stream().filter(b -> b.name().equals(name)).findFirst();
    }

    /** Total stored size of the blobs, in bytes. */
    public long storedSizeBytes() {
        return blobs.stream().mapToLong(BlobRef::sizeBytes).sum();
    }
}
