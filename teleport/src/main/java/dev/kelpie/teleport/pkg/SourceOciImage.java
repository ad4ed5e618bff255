package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The OCI image a package's sandbox booted: a checkpoint restores onto the same manifest digest (or, when asked,
 * another digest of the same repository).
 *
 * @param reference as the source's client asked for it
 * @param manifestDigest {@code sha256:HEX}
 * @param repository {@code registry/repository}
 * @param rootSha256 a {@code vm} package's: the sha256 (hex) of the ext4 root the VM booted, which its memory caches
 *     blocks of, so a restore needs exactly that root; null in checkpoints (and absent to older readers)
 */
public record SourceOciImage(@JsonProperty("reference") String reference,
        @JsonProperty("manifest_digest") String manifestDigest, @JsonProperty("repository") String repository,
        @JsonProperty("root_sha256") @JsonInclude(JsonInclude.Include.NON_NULL) String rootSha256) {

    /** A checkpoint's: any root built from the digest will do. */
    public SourceOciImage(String reference, String manifestDigest, String repository) {
        this(reference, manifestDigest, repository, null);
    }

    /** The reference that names exactly this image in its registry. */
    public String pinnedReference() {
        return repository + "@" + manifestDigest;
    }
}
