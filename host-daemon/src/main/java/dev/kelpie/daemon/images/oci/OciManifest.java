package dev.kelpie.daemon.images.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.images.IncompatibleImageException;
import dev.kelpie.daemon.images.pull.ImagePullException;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** An image manifest (OCI or Docker schema 2): the config blob and the layers in the order they apply. */
public record OciManifest(String sha256, OciDescriptor config, List<OciDescriptor> layers) {

    static final Set<String> INDEX_TYPES = Set.of("application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json");
    static final Set<String> MANIFEST_TYPES = Set.of("application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json");

    public OciManifest {
        layers = List.copyOf(layers);
    }

    /** The JSON's own {@code mediaType} when the registry's {@code Content-Type} says nothing useful. */
    static String mediaType(String header, JsonNode json) {
        return INDEX_TYPES.contains(header) || MANIFEST_TYPES.contains(header) ? header
                : json.path("mediaType").asText(header);
    }

    static JsonNode read(byte[] bytes, ObjectMapper json, String where) {
        try {
            return json.readTree(bytes);
        } catch (IOException e) {
            throw new ImagePullException(Reason.DAMAGED, where + " is not JSON: " + e.getMessage(), e);
        }
    }

    static OciManifest parse(String sha256, JsonNode root, String where) {
        if (!root.path("config").isObject() || !root.path("layers").isArray()) {
            throw new ImagePullException(Reason.DAMAGED, where + " is not an image manifest (no config or layers)");
        }
        List<OciDescriptor> layers = new ArrayList<>();
        for (JsonNode layer : root.path("layers")) {
            OciDescriptor d = OciDescriptor.parse(layer, where);
            if (OciLayerFormat.of(d.mediaType()).isEmpty()) {
                throw new IncompatibleImageException(where + ": layer " + d.digest() + " has media type '"
                        + d.mediaType() + "'; Kelpie unpacks tar layers, plain, gzip or zstd compressed");
            }
            layers.add(d);
        }
        return new OciManifest(sha256, OciDescriptor.parse(root.path("config"), where), layers);
    }

    /**
     * The manifest digest an index lists for {@code host}.
     *
     * @throws IncompatibleImageException naming the platforms the index has when none runs here
     */
    static OciDescriptor pick(JsonNode index, OciPlatform host, String where) {
        List<String> offered = new ArrayList<>();
        Optional<OciDescriptor> exact = Optional.empty();
        Optional<OciDescriptor> loose = Optional.empty();
        for (JsonNode m : index.path("manifests")) {
            JsonNode p = m.path("platform");
            OciPlatform platform = new OciPlatform(p.path("os").asText(""), p.path("architecture").asText(""),
                    p.path("variant").asText(""));
            offered.add(platform.toString());
            if (host.runs(platform)) {
                OciDescriptor d = OciDescriptor.parse(m, where);
                if (platform.variant().equals(host.variant()) && exact.isEmpty()) {
                    exact = Optional.of(d);
                } else if (loose.isEmpty()) {
                    loose = Optional.of(d);
                }
            }
        }
        Optional<OciDescriptor> fallback = loose;
        return exact.or(() -> fallback).orElseThrow(() -> new IncompatibleImageException(where + " has no image for "
                + host + " (this host's platform); it offers " + (offered.isEmpty() ? "none" : String.join(", ",
                        offered))));
    }
}
