package dev.kelpie.teleport.pkg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.teleport.store.PackageStore;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The package format on its own: writer, manifest checks, verified extraction, the archive, the workspace tar rules. */
class PackageFormatTest {

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    @TempDir
    Path tmp;

    /** Where a ustar header keeps the entry's size, in octal digits. */
    private static final int TAR_SIZE_FIELD_OFFSET = 124;

    private final ManifestCodec codec = new ManifestCodec();

    private PackageManifest draft(String id) {
        return new PackageManifest(PackageManifest.FORMAT_VERSION, id, PackageKind.CHECKPOINT,
                new BaseImageRef("1.2.3", "x86_64", "a".repeat(64), "b".repeat(64)),
                new PlatformRef("qemu", "7.2.22", "microvm", "max"), 1_700_000_000_000L,
                new SourceSandbox("sb1", 1, 256, 0, Map.of("A", "1"), Map.of("team", "x"), 0, 0, "/workspace", null),
                Map.of("team", "x"), null);
    }

    /** A package dir with a workspace blob of {@code content}, already finished. */
    private PackageManifest writePackage(Path dir, byte[] content) throws IOException {
        PackageWriter writer = PackageWriter.create(dir);
        writer.addCompressed(BlobNames.WORKSPACE, new ByteArrayInputStream(content));
        return writer.finish(draft("pkg-1"));
    }

    private static byte[] randomBytes(int n) {
        byte[] bytes = new byte[n];
        new Random(42).nextBytes(bytes);
        return bytes;
    }

    private Path blob(Path dir, String name) {
        return dir.resolve(PackageStore.BLOBS_DIR).resolve(name);
    }

    @Test
    void writtenPackageExtractsToTheSameBytesAndItsManifestReadsBack() throws IOException {
        byte[] content = randomBytes(300_000);
        Path dir = tmp.resolve("p");
        PackageManifest written = writePackage(dir, content);
        PackageManifest read = codec.read(Files.readAllBytes(dir.resolve(PackageStore.MANIFEST_NAME)), "test");
        assertEquals(written, read);
        BlobRef blob = read.blob(BlobNames.WORKSPACE).orElseThrow();
        assertEquals(300_000, blob.uncompressedSizeBytes());
        assertEquals(Files.size(blob(dir, BlobNames.WORKSPACE)), blob.sizeBytes());
        Path out = tmp.resolve("out");
        try (InputStream in = Files.newInputStream(blob(dir, BlobNames.WORKSPACE))) {
            BlobExtractor.extract(blob, in, out, "test");
        }
        assertArrayEquals(content, Files.readAllBytes(out));
    }

    @Test
    void zeroBlocksComeBackAsHoles() throws IOException {
        byte[] content = new byte[8 * 1024 * 1024];
        content[0] = 1;
        content[content.length - 1] = 2;
        Path dir = tmp.resolve("p");
        PackageManifest m = writePackage(dir, content);
        Path out = tmp.resolve("disk");
        try (InputStream in = Files.newInputStream(blob(dir, BlobNames.WORKSPACE))) {
            BlobExtractor.extract(m.blobs().get(0), in, out, "test");
        }
        assertArrayEquals(content, Files.readAllBytes(out));
        long allocatedBytes = allocatedBytes(out);
        assertTrue(allocatedBytes < 1024 * 1024, "allocated " + allocatedBytes);
    }

    @Test
    void aFlippedBitATruncationOrAnExtensionIsDataLossAndLeavesNoTarget() throws IOException {
        Path dir = tmp.resolve("p");
        PackageManifest m = writePackage(dir, randomBytes(200_000));
        BlobRef blob = m.blobs().get(0);
        byte[] stored = Files.readAllBytes(blob(dir, BlobNames.WORKSPACE));
        byte[] flipped = stored.clone();
        flipped[stored.length / 2] ^= 0x10;
        byte[] truncated = java.util.Arrays.copyOf(stored, stored.length - 100);
        byte[] extended = java.util.Arrays.copyOf(stored, stored.length + 10);
        Map<byte[], String> cases = Map.of(flipped, "has sha256", truncated, "truncated", extended, "longer than");
        for (Map.Entry<byte[], String> bad : cases.entrySet()) {
            Path out = tmp.resolve("out");
            CorruptPackageException e = assertThrows(CorruptPackageException.class,
                    () -> BlobExtractor.extract(blob, new ByteArrayInputStream(bad.getKey()), out, "pkg"));
            assertTrue(e.getMessage().contains(BlobNames.WORKSPACE) && e.getMessage().contains(bad.getValue()),
                    e.getMessage());
            assertFalse(Files.exists(out));
        }
    }

    @Test
    void aBlobThatInflatesBeyondItsClaimIsStopped() throws IOException {
        Path dir = tmp.resolve("p");
        PackageManifest m = writePackage(dir, new byte[4 * 1024 * 1024]);
        BlobRef real = m.blobs().get(0);
        BlobRef lying = new BlobRef(real.name(), real.sizeBytes(), real.sha256(), real.compression(), 1000);
        Path out = tmp.resolve("out");
        assertThrows(CorruptPackageException.class, () -> BlobExtractor.extract(lying,
                Files.newInputStream(blob(dir, BlobNames.WORKSPACE)), out, "pkg"));
        assertFalse(Files.exists(out));
    }

    @Test
    void manifestsThatAreNotJsonOrBreakALimitAreInvalid() {
        String good = new String(codec.write(new PackageManifest(1, "pkg-1", PackageKind.CHECKPOINT,
                draft("pkg-1").baseImage(), draft("pkg-1").platform(), 1, draft("pkg-1").sourceSandbox(), Map.of(),
                List.of(new BlobRef(BlobNames.WORKSPACE, 10, "c".repeat(64), "zstd", 20)))), StandardCharsets.UTF_8);
        codec.read(good.getBytes(StandardCharsets.UTF_8), "ok");
        List<String> bad = List.of("not json", "{}", "[1,2]",
                good.replace("\"format_version\" : 1", "\"format_version\" : 99"),
                good.replace("\"size_bytes\" : 10", "\"size_bytes\" : 99999999999999999"),
                good.replace("\"uncompressed_size_bytes\" : 20", "\"uncompressed_size_bytes\" : -5"),
                good.replace("\"name\" : \"workspace.tar.zst\"", "\"name\" : \"../../etc/passwd\""),
                good.replace("\"c".repeat(1) + "c".repeat(63), "\"zz"),
                good.replace("\"zstd\"", "\"rar\""),
                good.replace("\"kind\" : \"checkpoint\"", "\"kind\" : \"vm\""),
                good.replace("\"id\" : \"pkg-1\"", "\"id\" : \"../x\""));
        for (String text : bad) {
            assertThrows(InvalidPackageException.class, () -> codec.read(text.getBytes(StandardCharsets.UTF_8), "t"),
                    text);
        }
        assertThrows(InvalidPackageException.class, () -> codec.read(new byte[ManifestCodec.MAX_MANIFEST_BYTES + 1], "t"));
    }

    @Test
    void aVmManifestWithoutWhatTheGateComparesIsInvalidAtParseTime() {
        String vm = new String(codec.write(new PackageManifest(1, "pkg-1", PackageKind.VM, draft("pkg-1").baseImage(),
                draft("pkg-1").platform(), 1, draft("pkg-1").sourceSandbox(), Map.of(), List.of(
                        new BlobRef(BlobNames.VM_MEMORY, 10, "c".repeat(64), "zstd", 20),
                        new BlobRef(BlobNames.VM_DISK, 10, "d".repeat(64), "zstd", 20)))), StandardCharsets.UTF_8);
        codec.read(vm.getBytes(StandardCharsets.UTF_8), "ok");
        for (String field : List.of("platform.hypervisor_version", "platform.machine_type", "platform.cpu_model",
                "base_image.kernel_sha256", "base_image.rootfs_sha256")) {
            String[] path = field.split("\\.");
            com.fasterxml.jackson.databind.node.ObjectNode tree;
            try {
                tree = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(vm);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            assertTrue(((com.fasterxml.jackson.databind.node.ObjectNode) tree.get(path[0])).remove(path[1]) != null, field);
            byte[] without = tree.toString().getBytes(StandardCharsets.UTF_8);
            InvalidPackageException e = assertThrows(InvalidPackageException.class, () -> codec.read(without, "t"), field);
            assertTrue(e.getMessage().contains(field + " is required for a vm package"), e.getMessage());
        }
    }

    @Test
    void aVmPackageOfAnOciSandboxCarriesItsRootSha256AndIsInvalidWithoutIt() {
        SourceSandbox s = draft("pkg-1").sourceSandbox();
        java.util.function.Function<String, PackageManifest> vm = root -> new PackageManifest(1, "pkg-1", PackageKind.VM,
                draft("pkg-1").baseImage(), draft("pkg-1").platform(), 1, new SourceSandbox(s.id(), s.vcpuCount(),
                        s.memoryMib(), s.diskSizeMib(), s.env(), s.labels(), s.ttlMs(), s.idleTimeoutMs(), s.workdir(),
                        s.network(), new SourceOciImage("r:1", "sha256:" + "1".repeat(64), "r", root)), Map.of(),
                List.of(new BlobRef(BlobNames.VM_MEMORY, 10, "c".repeat(64), "zstd", 20),
                        new BlobRef(BlobNames.VM_DISK, 10, "d".repeat(64), "zstd", 20)));
        PackageManifest ok = vm.apply("e".repeat(64));
        assertEquals("e".repeat(64), codec.read(codec.write(ok), "ok").sourceSandbox().ociImage().rootSha256());
        for (String bad : java.util.Arrays.asList(null, "E".repeat(64), "../x")) {
            InvalidPackageException e = assertThrows(InvalidPackageException.class,
                    () -> codec.read(codec.write(vm.apply(bad)), "t"), String.valueOf(bad));
            assertTrue(e.getMessage().contains("root_sha256"), e.getMessage());
        }
    }

    @Test
    void archiveRoundTripsAndRefusesStrangers() throws IOException {
        Path dir = tmp.resolve("p");
        PackageManifest m = writePackage(dir, randomBytes(100_000));
        byte[] manifestBytes = Files.readAllBytes(dir.resolve(PackageStore.MANIFEST_NAME));
        byte[] blobBytes = Files.readAllBytes(blob(dir, BlobNames.WORKSPACE));
        byte[] archive = tar(List.of(Map.entry("manifest.json", manifestBytes),
                Map.entry("blobs/" + BlobNames.WORKSPACE, blobBytes)));
        PackageManifest unpacked = PackageArchive.unpack(new ByteArrayInputStream(archive), tmp.resolve("u"), "import");
        assertEquals(m, unpacked);
        assertArrayEquals(blobBytes, Files.readAllBytes(blob(tmp.resolve("u"), BlobNames.WORKSPACE)));

        byte[] flipped = blobBytes.clone();
        flipped[10] ^= 1;
        assertThrows(CorruptPackageException.class, () -> PackageArchive.unpack(new ByteArrayInputStream(tar(List.of(
                Map.entry("manifest.json", manifestBytes), Map.entry("blobs/" + BlobNames.WORKSPACE, flipped)))),
                tmp.resolve("u2"), "import"));
        assertThrows(CorruptPackageException.class, () -> PackageArchive.unpack(new ByteArrayInputStream(tar(List.of(
                Map.entry("manifest.json", manifestBytes)))), tmp.resolve("u3"), "import"));
        assertThrows(InvalidPackageException.class, () -> PackageArchive.unpack(new ByteArrayInputStream(tar(List.of(
                Map.entry("blobs/" + BlobNames.WORKSPACE, blobBytes), Map.entry("manifest.json", manifestBytes)))),
                tmp.resolve("u4"), "import"));
        assertThrows(InvalidPackageException.class, () -> PackageArchive.unpack(new ByteArrayInputStream(tar(List.of(
                Map.entry("manifest.json", manifestBytes), Map.entry("blobs/../../evil", blobBytes)))),
                tmp.resolve("u5"), "import"));
        assertThrows(InvalidPackageException.class, () -> PackageArchive.unpack(
                new ByteArrayInputStream("garbage".getBytes(StandardCharsets.UTF_8)), tmp.resolve("u6"), "import"));
    }

    @Test
    void aBrokenTarIsAnInvalidPackageWhileAFailingSourceStaysAnIOException() throws IOException {
        Path dir = tmp.resolve("p");
        writePackage(dir, randomBytes(10_000));
        byte[] archive = tar(List.of(Map.entry("manifest.json", Files.readAllBytes(dir.resolve(PackageStore.MANIFEST_NAME))),
                Map.entry("blobs/" + BlobNames.WORKSPACE, Files.readAllBytes(blob(dir, BlobNames.WORKSPACE)))));
        byte[] corrupt = archive.clone();
        corrupt[TAR_SIZE_FIELD_OFFSET] = 'x';
        InvalidPackageException invalid = assertThrows(InvalidPackageException.class,
                () -> PackageArchive.unpack(new ByteArrayInputStream(corrupt), tmp.resolve("u1"), "import"));
        assertTrue(invalid.getMessage().contains("is not a valid tar"), invalid.getMessage());

        IOException dropped = new IOException("connection dropped");
        InputStream cutOff = new SequenceInputStream(new ByteArrayInputStream(archive, 0, 700), new InputStream() {
            @Override
            public int read() throws IOException {
                throw dropped;
            }
        });
        IOException failure = assertThrows(IOException.class,
                () -> PackageArchive.unpack(cutOff, tmp.resolve("u2"), "import"));
        assertSame(dropped, failure);
    }

    @Test
    void aBlobEntryOfAnotherSizeThanTheManifestsIsRefusedBeforeItIsWritten() throws IOException {
        Path dir = tmp.resolve("p");
        writePackage(dir, randomBytes(10_000));
        byte[] stored = Files.readAllBytes(blob(dir, BlobNames.WORKSPACE));
        byte[] longer = java.util.Arrays.copyOf(stored, stored.length + 1);
        byte[] archive = tar(List.of(Map.entry("manifest.json", Files.readAllBytes(dir.resolve(PackageStore.MANIFEST_NAME))),
                Map.entry("blobs/" + BlobNames.WORKSPACE, longer)));
        CorruptPackageException e = assertThrows(CorruptPackageException.class,
                () -> PackageArchive.unpack(new ByteArrayInputStream(archive), tmp.resolve("u"), "import"));
        assertTrue(e.getMessage().contains("bytes in the archive"), e.getMessage());
        assertFalse(Files.exists(blob(tmp.resolve("u"), BlobNames.WORKSPACE)));
    }

    @Test
    void workspaceTarRulesMatchTheAgents() throws IOException {
        assertEquals(4, WorkspaceTarCheck.check(new ByteArrayInputStream(tarWith(List.of(
                dir("src/"), file("src/main.py"), symlink("src/link", "main.py"), symlink("up", "src/../src/main.py")))), "w"));
        List<List<TarArchiveEntry>> bad = List.of(
                List.of(file("/etc/passwd")),
                List.of(file("../escape")),
                List.of(file("a/../../escape")),
                List.of(symlink("evil", "/etc")),
                List.of(symlink("evil", "../../etc")),
                List.of(symlink("dir", "sub"), file("dir/x")),
                List.of(hardlink("h", "/etc/shadow")),
                List.of(hardlink("h", "never-seen")),
                List.of(dir("d/"), hardlink("h", "d")),
                List.of(special("dev0", TarArchiveEntry.LF_CHR)),
                List.of(special("disk", TarArchiveEntry.LF_BLK)),
                List.of(special("pipe", TarArchiveEntry.LF_FIFO)),
                List.of(special("sparse", TarArchiveEntry.LF_GNUTYPE_SPARSE)));
        for (List<TarArchiveEntry> entries : bad) {
            assertThrows(InvalidPackageException.class,
                    () -> WorkspaceTarCheck.check(new ByteArrayInputStream(tarWith(entries)), "w"), entries.toString());
        }
    }

    @Test
    void aRefusedEntryIsNamedWithWhatItIs() throws IOException {
        assertRefusal("\"dev0\" rejected: a character device", special("dev0", TarArchiveEntry.LF_CHR));
        assertRefusal("\"disk\" rejected: a block device", special("disk", TarArchiveEntry.LF_BLK));
        assertRefusal("\"pipe\" rejected: a fifo", special("pipe", TarArchiveEntry.LF_FIFO));
        assertRefusal("\"dev1/\" rejected: a character device", special("dev1/", TarArchiveEntry.LF_CHR));
        assertRefusal("\"h\" rejected: a hard link to /etc/passwd", hardlink("h", "/etc/passwd"));
    }

    private static void assertRefusal(String expected, TarArchiveEntry entry) throws IOException {
        byte[] tar = tarWith(List.of(entry));
        InvalidPackageException e = assertThrows(InvalidPackageException.class,
                () -> WorkspaceTarCheck.check(new ByteArrayInputStream(tar), "w"));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private static TarArchiveEntry special(String name, byte type) {
        TarArchiveEntry e = new TarArchiveEntry(name, type, true);
        if (type == TarArchiveEntry.LF_CHR || type == TarArchiveEntry.LF_BLK) {
            e.setDevMajor(1);
            e.setDevMinor(3);
        }
        return e;
    }

    private static long allocatedBytes(Path file) throws IOException {
        Process stat = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).start();
        String[] blocks = new String(stat.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip().split(" ");
        return Long.parseLong(blocks[0]) * Long.parseLong(blocks[1]);
    }

    private static TarArchiveEntry file(String name) {
        TarArchiveEntry e = new TarArchiveEntry(name, true);
        e.setSize(0);
        return e;
    }

    private static TarArchiveEntry dir(String name) {
        return new TarArchiveEntry(name);
    }

    private static TarArchiveEntry symlink(String name, String target) {
        TarArchiveEntry e = new TarArchiveEntry(name, TarArchiveEntry.LF_SYMLINK, true);
        e.setLinkName(target);
        return e;
    }

    private static TarArchiveEntry hardlink(String name, String target) {
        TarArchiveEntry e = new TarArchiveEntry(name, TarArchiveEntry.LF_LINK, true);
        e.setLinkName(target);
        return e;
    }

    private static byte[] tarWith(List<TarArchiveEntry> entries) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            for (TarArchiveEntry e : entries) {
                tar.putArchiveEntry(e);
                tar.closeArchiveEntry();
            }
        }
        return out.toByteArray();
    }

    private static byte[] tar(List<Map.Entry<String, byte[]>> files) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            for (Map.Entry<String, byte[]> f : files) {
                TarArchiveEntry e = new TarArchiveEntry(f.getKey());
                e.setSize(f.getValue().length);
                tar.putArchiveEntry(e);
                tar.write(f.getValue());
                tar.closeArchiveEntry();
            }
        }
        return out.toByteArray();
    }
}
