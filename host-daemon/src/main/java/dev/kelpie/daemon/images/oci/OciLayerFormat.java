package dev.kelpie.daemon.images.oci;

import com.github.luben.zstd.ZstdInputStream;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/** How a layer's tar is compressed, from its media type. */
public enum OciLayerFormat {
    TAR, GZIP, ZSTD;

    public static Optional<OciLayerFormat> of(String mediaType) {
        String t = mediaType.replace(".nondistributable", "");
        return switch (t) {
            case "application/vnd.oci.image.layer.v1.tar" -> Optional.of(TAR);
            case "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" -> Optional.of(GZIP);
            case "application/vnd.oci.image.layer.v1.tar+zstd" -> Optional.of(ZSTD);
            default -> Optional.empty();
        };
    }

    /** The tar inside {@code compressed}. */
    public InputStream open(InputStream compressed) throws IOException {
        InputStream in = new BufferedInputStream(compressed, 1 << 16);
        return switch (this) {
            case TAR -> in;
            case GZIP -> new GZIPInputStream(in, 1 << 16);
            case ZSTD -> new ZstdInputStream(in);
        };
    }
}
