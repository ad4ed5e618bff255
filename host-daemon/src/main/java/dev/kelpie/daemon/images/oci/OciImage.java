package dev.kelpie.daemon.images.oci;

import java.util.List;

/**
 * An OCI image in the cache, known by its manifest's sha256.
 *
 * @param repository {@code registry/repository} it was pulled from
 * @param references the references it was pulled as (tags move; the digest does not)
 */
public record OciImage(String manifestSha256, long manifestSizeBytes, String repository, List<String> references, OciImageConfig config,
        OciDescriptor configBlob, List<OciDescriptor> layers, long cachedAtUnixMs) {

    public OciImage {
        references = List.copyOf(references);
        layers = List.copyOf(layers);
    }

    public String manifestDigest() {
        return "sha256:" + manifestSha256;
    }

    /** The compressed bytes of its layers. */
    public long layerBytes() {
        return layers.stream().mapToLong(OciDescriptor::sizeBytes).sum();
    }
}
