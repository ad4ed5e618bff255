package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One blob as the manifest lists it: the stored bytes are checked against {@code sizeBytes} and {@code sha256}
 * before anything uses them, and decompression stops at {@code uncompressedSizeBytes}.
 *
 * @param compression {@value #ZSTD} or {@value #NONE}
 */
public record BlobRef(@JsonProperty("name") String name, @JsonProperty("size_bytes") long sizeBytes,
        @JsonProperty("sha256") String sha256, @JsonProperty("compression") String compression,
        @JsonProperty("uncompressed_size_bytes") long uncompressedSizeBytes) {

    public static final String ZSTD = "zstd";
    public static final String NONE = "none";
}
