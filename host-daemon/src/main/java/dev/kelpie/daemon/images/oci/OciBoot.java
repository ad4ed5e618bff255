package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.images.BootImage;

/**
 * What a sandbox from an OCI image boots: the base image's kernel and writable-disk template with the OCI image's
 * root as the read-only root disk, and the image it came from (its manifest digest and exec defaults).
 *
 * @param reference the reference as the client gave it
 * @param rootSha256 the sha256 (hex) of the root it boots, which a {@code vm} package pins
 * @param pulled whether preparing it pulled the image (a refused restore removes what it pulled for itself)
 * @param lease holds the image in the cache until the sandbox's record does ({@link #release}); null when nothing
 *     holds it (tests)
 */
public record OciBoot(BootImage image, OciImage oci, String reference, String rootSha256, boolean pulled,
        OciLease lease) {

    /** A boot of a cached image that nothing holds and whose root's hash nobody asks for (tests). */
    public OciBoot(BootImage image, OciImage oci, String reference) {
        this(image, oci, reference, "", false, null);
    }

    /** Lets the image go: the sandbox's record holds it now, or there is no sandbox. */
    public void release() {
        if (lease != null) {
            lease.close();
        }
    }
}
