package dev.kelpie.daemon.images.oci;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.luben.zstd.Zstd;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Function;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * Builds small images and pushes them with the distribution API itself (monolithic blob uploads, manifest PUTs), so a
 * test controls every byte: compression, platforms, whiteouts, a layer for another arch.
 */
public final class TestImagePusher {

    public static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
    static final String INDEX_TYPE = "application/vnd.oci.image.index.v1+json";

    private final String host;
    private final Function<String, String> tokenFor;
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

    /** @param tokenFor a bearer token with push rights for a repository, or null for an open registry */
    public TestImagePusher(String host, Function<String, String> tokenFor) {
        this.host = host;
        this.tokenFor = tokenFor;
    }

    /** A layer: a tar, compressed as its media type says. */
    public record Layer(String mediaType, byte[] bytes, byte[] tar) {}

    public interface TarWriter {
        void write(TarArchiveOutputStream tar) throws IOException;
    }

    public static byte[] tar(TarWriter writer) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            writer.write(tar);
        }
        return out.toByteArray();
    }

    public static void file(TarArchiveOutputStream tar, String name, int mode, String content) throws IOException {
        file(tar, name, mode, content.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    public static void file(TarArchiveOutputStream tar, String name, int mode, byte[] bytes) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setMode(mode);
        e.setSize(bytes.length);
        tar.putArchiveEntry(e);
        tar.write(bytes);
        tar.closeArchiveEntry();
    }

    public static Layer gzip(byte[] tar) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(tar);
        }
        return new Layer("application/vnd.oci.image.layer.v1.tar+gzip", out.toByteArray(), tar);
    }

    public static Layer zstd(byte[] tar) {
        return new Layer("application/vnd.oci.image.layer.v1.tar+zstd", Zstd.compress(tar), tar);
    }

    /** Pushes a single-platform image; returns its manifest's bytes. */
    public byte[] pushImage(String repository, String tag, String architecture, List<String> env, String workingDir,
            List<Layer> layers) throws Exception {
        ObjectNode c = json.createObjectNode();
        env.forEach(c.putArray("Env")::add);
        c.put("WorkingDir", workingDir);
        c.putArray("Cmd").add("/bin/sh");
        return pushImage(repository, tag, architecture, c, layers);
    }

    /** Pushes a single-platform image whose config's {@code config} section is {@code runConfig}. */
    public byte[] pushImage(String repository, String tag, String architecture, ObjectNode runConfig,
            List<Layer> layers) throws Exception {
        ObjectNode config = json.createObjectNode().put("architecture", architecture).put("os", "linux");
        config.set("config", runConfig);
        ObjectNode rootfs = config.putObject("rootfs").put("type", "layers");
        ArrayNode diffIds = rootfs.putArray("diff_ids");
        for (Layer l : layers) {
            diffIds.add("sha256:" + sha256(l.tar()));
        }
        byte[] configBytes = json.writeValueAsBytes(config);
        ObjectNode manifest = json.createObjectNode().put("schemaVersion", 2).put("mediaType", MANIFEST_TYPE);
        descriptor(manifest.putObject("config"), "application/vnd.oci.image.config.v1+json",
                pushBlob(repository, configBytes), configBytes.length);
        ArrayNode list = manifest.putArray("layers");
        for (Layer l : layers) {
            descriptor(list.addObject(), l.mediaType(), pushBlob(repository, l.bytes()), l.bytes().length);
        }
        byte[] bytes = json.writeValueAsBytes(manifest);
        pushManifest(repository, tag, MANIFEST_TYPE, bytes);
        return bytes;
    }

    /** Pushes an index over manifests already pushed, each with its platform ({@code arch} or {@code arch/variant}). */
    byte[] pushIndex(String repository, String tag, List<String> platforms, List<byte[]> manifests) throws Exception {
        ObjectNode index = json.createObjectNode().put("schemaVersion", 2).put("mediaType", INDEX_TYPE);
        ArrayNode list = index.putArray("manifests");
        for (int i = 0; i < manifests.size(); i++) {
            ObjectNode m = list.addObject();
            descriptor(m, MANIFEST_TYPE, sha256(manifests.get(i)), manifests.get(i).length);
            String[] p = platforms.get(i).split("/");
            ObjectNode platform = m.putObject("platform").put("os", "linux").put("architecture", p[0]);
            if (p.length > 1) {
                platform.put("variant", p[1]);
            }
        }
        byte[] bytes = json.writeValueAsBytes(index);
        pushManifest(repository, tag, INDEX_TYPE, bytes);
        return bytes;
    }

    String pushBlob(String repository, byte[] data) throws Exception {
        String sha256 = sha256(data);
        HttpResponse<Void> started = send(repository, HttpRequest.newBuilder(uri("/v2/" + repository
                + "/blobs/uploads/")).POST(HttpRequest.BodyPublishers.noBody()));
        require(started, 202, "starting an upload");
        String location = started.headers().firstValue("Location").orElseThrow();
        URI target = URI.create("http://" + host).resolve(location);
        String sep = target.getRawQuery() == null ? "?" : "&";
        HttpResponse<Void> done = send(repository, HttpRequest.newBuilder(URI.create(target + sep + "digest=sha256:"
                + sha256)).header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofByteArray(data)));
        require(done, 201, "finishing an upload");
        return sha256;
    }

    public void pushManifest(String repository, String reference, String mediaType, byte[] bytes) throws Exception {
        HttpResponse<Void> put = send(repository, HttpRequest.newBuilder(uri("/v2/" + repository + "/manifests/"
                + reference)).header("Content-Type", mediaType).PUT(HttpRequest.BodyPublishers.ofByteArray(bytes)));
        require(put, 201, "pushing a manifest");
    }

    private HttpResponse<Void> send(String repository, HttpRequest.Builder request) throws Exception {
        if (tokenFor != null) {
            request.header("Authorization", "Bearer " + tokenFor.apply(repository));
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.discarding());
    }

    private URI uri(String path) {
        return URI.create("http://" + host + path);
    }

    private static void require(HttpResponse<Void> response, int status, String what) {
        if (response.statusCode() != status) {
            throw new IllegalStateException(what + ": HTTP " + response.statusCode() + " " + response.headers().map());
        }
    }

    private static void descriptor(ObjectNode node, String mediaType, String sha256, long size) {
        node.put("mediaType", mediaType).put("digest", "sha256:" + sha256).put("size", size);
    }

    public static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
