package dev.kelpie.daemon.images.pull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.luben.zstd.ZstdOutputStream;
import dev.kelpie.daemon.images.cache.BlobHashing;
import dev.kelpie.daemon.images.trust.MinisignTestSigner;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * Writes image releases the way image-build and the release workflow publish them — a tar.zst archive of the boot
 * files and metadata.json, SHA256SUMS, and its minisign signature — small enough for tests, with incompressible
 * content so a transfer can be cut in the middle.
 */
public final class TestReleases {

    private final ObjectMapper json = new ObjectMapper();
    private final MinisignTestSigner signer;
    private int agentProtocol = 1;
    private int rootfsBytes = 2 * 1024 * 1024;

    public TestReleases(MinisignTestSigner signer) {
        this.signer = signer;
    }

    public TestReleases agentProtocol(int protocol) {
        this.agentProtocol = protocol;
        return this;
    }

    public TestReleases rootfsBytes(int bytes) {
        this.rootfsBytes = bytes;
        return this;
    }

    /** Writes {@code dir/ARCHIVE}, {@code dir/SHA256SUMS} and {@code dir/SHA256SUMS.minisig}; returns dir. */
    public Path write(Path dir, String version, String arch) throws IOException {
        Files.createDirectories(dir);
        Map<String, byte[]> files = new LinkedHashMap<>();
        Random random = new Random(version.hashCode() * 31L + arch.hashCode());
        files.put(arch.equals("x86_64") ? "vmlinux" : "Image", bytes(random, 64 * 1024));
        files.put("rootfs.ext4", bytes(random, rootfsBytes));
        byte[] template = new byte[1024 * 1024]; // mostly a hole, as a fresh ext4 is
        System.arraycopy(bytes(random, 4096), 0, template, 0, 4096);
        files.put("disk-template.ext4", template);
        files.put("metadata.json", metadata(version, arch, files));
        Path archive = dir.resolve(ReleaseFiles.archive(version, arch));
        writeTarZst(archive, files);
        return publish(archive, version, arch);
    }

    /** Writes SHA256SUMS for {@code archive} beside it, signed; returns its directory. */
    public Path publish(Path archive, String version, String arch) throws IOException {
        Path dir = archive.getParent();
        String sums = BlobHashing.sha256(archive) + "  " + archive.getFileName() + "\n";
        Files.writeString(dir.resolve(ReleaseFiles.CHECKSUMS), sums);
        Files.writeString(dir.resolve(ReleaseFiles.SIGNATURE),
                signer.sign(sums.getBytes(StandardCharsets.UTF_8), "kelpie-image " + version + " " + arch));
        return dir;
    }

    private byte[] metadata(String version, String arch, Map<String, byte[]> files) throws IOException {
        ObjectNode meta = json.createObjectNode();
        meta.put("schema_version", 1).put("version", version).put("arch", arch).put("flavor", "minimal")
                .put("kernel_cmdline", "console=ttyS0 quiet");
        meta.putObject("agent").put("version", "0.1.0").put("protocol_version", agentProtocol);
        meta.putObject("rootfs").put("file", "rootfs.ext4");
        meta.putObject("disk_template").put("file", "disk-template.ext4").put("size_mib", 1);
        var list = meta.putArray("files");
        for (var e : files.entrySet()) {
            list.addObject().put("name", e.getKey()).put("size", e.getValue().length).put("sha256", sha256(e.getValue()));
        }
        return json.writerWithDefaultPrettyPrinter().writeValueAsBytes(meta);
    }

    /** A tar.zst of {@code files}, in order; also used to build malformed archives. */
    public static void writeTarZst(Path archive, Map<String, byte[]> files) throws IOException {
        try (OutputStream out = Files.newOutputStream(archive);
                TarArchiveOutputStream tar = new TarArchiveOutputStream(new ZstdOutputStream(out))) {
            for (var e : files.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey());
                entry.setSize(e.getValue().length);
                tar.putArchiveEntry(entry);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
    }

    private static byte[] bytes(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private static String sha256(byte[] data) {
        var digest = BlobHashing.newDigest();
        digest.update(data);
        return BlobHashing.hex(digest);
    }
}
