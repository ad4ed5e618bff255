package dev.kelpie.daemon.images.oci;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kelpie.daemon.images.pull.ImagePullException;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import java.util.regex.Pattern;

/**
 * A content descriptor of a manifest: what a blob is, how big, and the digest its bytes must have.
 *
 * @param sha256 lowercase hex (only sha256 digests are accepted)
 */
public record OciDescriptor(String mediaType, String sha256, long sizeBytes) {

    private static final Pattern DIGEST = Pattern.compile("sha256:([0-9a-f]{64})");

    static OciDescriptor parse(JsonNode node, String where) {
        var m = DIGEST.matcher(node.path("digest").asText(""));
        if (!m.matches()) {
            throw new ImagePullException(Reason.DAMAGED, where + ": descriptor digest '" + node.path("digest").asText("")
                    + "' is not sha256: and 64 lowercase hex digits");
        }
        long size = node.path("size").asLong(-1);
        if (size < 0) {
            throw new ImagePullException(Reason.DAMAGED, where + ": descriptor " + m.group(1) + " has no size");
        }
        return new OciDescriptor(node.path("mediaType").asText(""), m.group(1), size);
    }

    public String digest() {
        return "sha256:" + sha256;
    }
}
