package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The base image a package was taken on. The version gates checkpoint restores; the hashes pin the exact image a
 * {@code vm} package's memory expects under it.
 */
public record BaseImageRef(@JsonProperty("version") String version, @JsonProperty("arch") String arch,
        @JsonProperty("kernel_sha256") String kernelSha256, @JsonProperty("rootfs_sha256") String rootfsSha256) {}
