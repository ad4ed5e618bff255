package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The OCI image a package's sandbox booted: a checkpoint restores onto the same manifest digest (or, when asked,
 * another digest of the same repository).
 *
 * @param reference as the source's client asked for it
 * @param manifestDigest {@code sha256:HEX}
 * @param repository {@code registry/repository}
 */
public record SourceOciImage(@JsonProperty("reference") String reference,
        @JsonProperty("manifest_digest") String manifestDigest, @JsonProperty("repository") String repository) {

    /** The reference that names exactly this image in its registry. */
    public String pinnedReference() {
        return repository + "@" + manifestDigest;
    }
}
