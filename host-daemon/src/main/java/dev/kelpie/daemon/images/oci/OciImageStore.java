package dev.kelpie.daemon.images.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kelpie.daemon.images.DamagedImageException;
import dev.kelpie.daemon.images.ImageInUseException;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.cache.ImageCache;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * OCI images in the image cache: one entry per manifest digest ({@code ROOT/oci/HEX.json}) listing the blobs of its
 * manifest, config and layers, so that the cache's collection keeps exactly the blobs some image references.
 */
public final class OciImageStore {

    private static final Logger LOG = Logger.getLogger(OciImageStore.class);
    private static final int ENTRY_FORMAT = 1;

    private final ImageCache cache;
    private final ObjectMapper json;
    /** Manifest sha256 → how many {@link OciLease}s hold it; guarded by {@code this}. */
    private final Map<String, Integer> leases = new HashMap<>();

    public OciImageStore(ImageCache cache, ObjectMapper json) {
        this.cache = cache;
        this.json = json;
    }

    public ImageCache cache() {
        return cache;
    }

    public Optional<OciImage> find(String manifestSha256) {
        Path entry = cache.ociEntry(manifestSha256);
        return Files.isRegularFile(entry) ? Optional.of(load(entry)) : Optional.empty();
    }

    /** Cached OCI images; an unreadable entry is logged and left out. */
    public List<OciImage> list() {
        List<OciImage> images = new ArrayList<>();
        for (Path entry : cache.ociEntries()) {
            try {
                images.add(load(entry));
            } catch (RuntimeException e) {
                LOG.warnf("OCI image cache entry %s is unusable: %s", entry, e.getMessage());
            }
        }
        return images;
    }

    /**
     * Publishes {@code image}, adopting its verified downloads as blobs. A reference names one cached image: the one
     * it was last pulled as, so a tag that moved is taken off the entry of the digest it named before.
     */
    public synchronized OciImage install(OciImage image, Map<String, Path> downloads) {
        Set<String> references = new LinkedHashSet<>(image.references());
        find(image.manifestSha256()).ifPresent(old -> references.addAll(old.references()));
        OciImage merged = new OciImage(image.manifestSha256(), image.manifestSizeBytes(), image.repository(),
                List.copyOf(references), image.config(), image.configBlob(), image.layers(), image.cachedAtUnixMs());
        write(merged, downloads);
        for (OciImage other : list()) {
            if (!other.manifestSha256().equals(image.manifestSha256())
                    && other.references().stream().anyMatch(image.references()::contains)) {
                write(new OciImage(other.manifestSha256(), other.manifestSizeBytes(), other.repository(),
                        other.references().stream().filter(r -> !image.references().contains(r)).toList(),
                        other.config(), other.configBlob(), other.layers(), other.cachedAtUnixMs()), Map.of());
            }
        }
        return merged;
    }

    private void write(OciImage image, Map<String, Path> downloads) {
        try {
            cache.installOci(image.manifestSha256(), downloads, json.writerWithDefaultPrettyPrinter()
                    .writeValueAsBytes(entry(image)));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot write an OCI image entry: " + e.getMessage(), e);
        }
    }

    /**
     * The cached image {@code nameOrDigest} names: a manifest digest ({@code sha256:HEX}) or a reference it was
     * pulled as (normalized as pulls normalize it, so {@code busybox} finds {@code docker.io/library/busybox:latest}).
     *
     * @throws ImageNotFoundException when no cached image matches
     */
    public OciImage resolve(String nameOrDigest) {
        if (nameOrDigest.matches("sha256:[0-9a-f]{64}")) {
            return find(nameOrDigest.substring("sha256:".length())).orElseThrow(() -> new ImageNotFoundException(
                    "OCI image " + nameOrDigest + " is not in the cache"));
        }
        String reference = OciReference.parse(nameOrDigest).toString();
        return list().stream().filter(i -> i.references().contains(reference)).findFirst()
                .orElseThrow(() -> new ImageNotFoundException("no cached OCI image was pulled as " + reference
                        + "; pull it first"));
    }

    /** @return bytes freed */
    public long remove(String manifestSha256) {
        return cache.removeOci(manifestSha256);
    }

    /**
     * The cached image {@code nameOrDigest} names, held by a lease in the same step: a removal between the two cannot
     * happen, and none after until the lease is closed.
     *
     * @throws ImageNotFoundException when no cached image matches
     */
    public synchronized Leased lease(String nameOrDigest) {
        OciImage image = resolve(nameOrDigest);
        leases.merge(image.manifestSha256(), 1, Integer::sum);
        return new Leased(image, new OciLease(this, image.manifestSha256()));
    }

    /** An image and the lease that keeps it cached. */
    public record Leased(OciImage image, OciLease lease) {}

    synchronized void release(String manifestSha256) {
        leases.computeIfPresent(manifestSha256, (k, n) -> n == 1 ? null : n - 1);
    }

    /**
     * Removes the image unless a lease holds it (a sandbox is being made from it) or {@code users} names sandboxes
     * that booted it, as one step with {@link #lease}: an {@code Images.Remove} racing a Create either removes the
     * image before the Create resolves it (which then pulls it again or fails NOT_FOUND) or is refused.
     *
     * @param users the sandboxes using the image, asked under this store's lock
     * @return bytes freed
     * @throws ImageInUseException (FAILED_PRECONDITION) naming what holds it
     */
    public synchronized long removeUnlessUsed(OciImage image, Supplier<List<String>> users) {
        String what = "OCI image " + image.repository() + "@" + image.manifestDigest();
        if (leases.containsKey(image.manifestSha256())) {
            throw new ImageInUseException(what + " is held by a sandbox being created or restored from it right now"
                    + " (or by the warm pool, which boots it): try again when that is done");
        }
        List<String> ids = users.get();
        if (!ids.isEmpty()) {
            throw new ImageInUseException(what + " is in use by sandbox" + (ids.size() == 1 ? " " : "es ")
                    + String.join(", ", ids) + "; delete them first");
        }
        return remove(image.manifestSha256());
    }

    private ObjectNode entry(OciImage image) {
        ObjectNode e = json.createObjectNode();
        e.put("format", ENTRY_FORMAT).put("manifest_sha256", image.manifestSha256())
                .put("repository", image.repository()).put("cached_at_unix_ms", image.cachedAtUnixMs());
        ArrayNode refs = e.putArray("references");
        image.references().forEach(refs::add);
        OciImageConfig c = image.config();
        ObjectNode config = e.putObject("config");
        config.put("os", c.platform().os()).put("architecture", c.platform().architecture())
                .put("variant", c.platform().variant()).put("working_dir", c.workingDir()).put("user", c.user());
        c.env().forEach(config.putArray("env")::add);
        c.entrypoint().forEach(config.putArray("entrypoint")::add);
        c.cmd().forEach(config.putArray("cmd")::add);
        ArrayNode files = e.putArray("files");
        files.addObject().put("name", "manifest").put("media_type", "").put("sha256", image.manifestSha256())
                .put("size", image.manifestSizeBytes());
        descriptor(files.addObject().put("name", "config"), image.configBlob());
        for (int i = 0; i < image.layers().size(); i++) {
            descriptor(files.addObject().put("name", "layer-" + i), image.layers().get(i));
        }
        return e;
    }

    private static void descriptor(ObjectNode node, OciDescriptor d) {
        node.put("media_type", d.mediaType()).put("sha256", d.sha256()).put("size", d.sizeBytes());
    }

    private OciImage load(Path entry) {
        JsonNode e;
        try {
            e = json.readTree(entry.toFile());
        } catch (IOException ex) {
            throw new DamagedImageException("OCI image entry " + entry + " is unreadable: " + ex.getMessage());
        }
        if (e.path("format").asInt() != ENTRY_FORMAT) {
            throw new DamagedImageException("OCI image entry " + entry + " has unknown format "
                    + e.path("format").asText());
        }
        JsonNode c = e.path("config");
        OciImageConfig config = new OciImageConfig(new OciPlatform(c.path("os").asText(""),
                c.path("architecture").asText(""), c.path("variant").asText("")), strings(c.path("env")),
                c.path("working_dir").asText(""), c.path("user").asText(""), strings(c.path("entrypoint")),
                strings(c.path("cmd")));
        OciDescriptor configBlob = null;
        long manifestSize = -1;
        List<OciDescriptor> layers = new ArrayList<>();
        for (JsonNode f : e.path("files")) {
            OciDescriptor d = new OciDescriptor(f.path("media_type").asText(""), f.path("sha256").asText(),
                    f.path("size").asLong());
            String name = f.path("name").asText();
            if (name.equals("manifest")) {
                manifestSize = d.sizeBytes();
            } else if (name.equals("config")) {
                configBlob = d;
            } else if (name.startsWith("layer-")) {
                layers.add(d);
            }
        }
        if (configBlob == null) {
            throw new DamagedImageException("OCI image entry " + entry + " lists no config blob");
        }
        return new OciImage(e.path("manifest_sha256").asText(), manifestSize, e.path("repository").asText(),
                strings(e.path("references")), config, configBlob, layers, e.path("cached_at_unix_ms").asLong());
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
