package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.images.BootImage;

/**
 * What a sandbox from an OCI image boots: the base image's kernel and writable-disk template with the OCI image's
 * root as the read-only root disk, and the image it came from (its manifest digest and exec defaults).
 *
 * @param reference the reference as the client gave it
 */
public record OciBoot(BootImage image, OciImage oci, String reference) {}
