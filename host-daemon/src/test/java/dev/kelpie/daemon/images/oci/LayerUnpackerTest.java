package dev.kelpie.daemon.images.oci;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kelpie.daemon.errors.ErrorKind;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-made layers: the changeset semantics (whiteouts, opaque directories, links, modes, xattrs), and one hostile
 * layer per way out of the root. After every hostile layer the sibling directory {@code outside} is still empty.
 */
class LayerUnpackerTest {

    private static final long ONE_MIB = 1 << 20;

    @TempDir
    Path tmp;

    private Path root;
    private Path outside;
    private LayerUnpacker unpacker;

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createDirectory(tmp.resolve("root"));
        outside = Files.createDirectory(tmp.resolve("outside"));
        unpacker = new LayerUnpacker(root, 64 * ONE_MIB, "test-image");
    }

    private void apply(TestImagePusher.TarWriter writer) throws IOException {
        unpacker.apply(new ByteArrayInputStream(TestImagePusher.tar(writer)), "sha256:test");
    }

    private static void symlink(TarArchiveOutputStream tar, String name, String target) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_SYMLINK);
        e.setLinkName(target);
        tar.putArchiveEntry(e);
        tar.closeArchiveEntry();
    }

    private static void hardlink(TarArchiveOutputStream tar, String name, String target) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_LINK);
        e.setLinkName(target);
        tar.putArchiveEntry(e);
        tar.closeArchiveEntry();
    }

    private static void dir(TarArchiveOutputStream tar, String name) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name.endsWith("/") ? name : name + "/");
        e.setMode(040755);
        tar.putArchiveEntry(e);
        tar.closeArchiveEntry();
    }

    private void assertOutsideUntouched() throws IOException {
        try (Stream<Path> s = Files.list(outside)) {
            assertEquals(List.of(), s.toList(), "a layer wrote outside the root");
        }
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of("outside", "root"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void whiteoutsDeleteLowerEntriesAndAnOpaqueDirectoryKeepsOnlyItsOwnLayer() throws IOException {
        apply(t -> {
            TestImagePusher.file(t, "etc/keep", 0644, "keep");
            TestImagePusher.file(t, "etc/gone", 0644, "gone");
            TestImagePusher.file(t, "var/cache/a", 0644, "a");
            TestImagePusher.file(t, "var/cache/sub/b", 0644, "b");
        });
        apply(t -> {
            TestImagePusher.file(t, "etc/.wh.gone", 0644, "");
            TestImagePusher.file(t, "var/cache/fresh", 0644, "fresh");
            TestImagePusher.file(t, "var/cache/.wh..wh..opq", 0644, "");
        });

        assertEquals("keep", Files.readString(root.resolve("etc/keep")));
        assertFalse(Files.exists(root.resolve("etc/gone")));
        try (Stream<Path> s = Files.list(root.resolve("var/cache"))) {
            assertEquals(List.of("fresh"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void hardLinksShareTheFileAndModesKeepSetuid() throws IOException {
        apply(t -> {
            TestImagePusher.file(t, "bin/su", 04755, "setuid");
            hardlink(t, "bin/su-link", "bin/su");
            symlink(t, "bin/alias", "su");
        });

        Path su = root.resolve("bin/su");
        assertEquals(04755, (int) Files.getAttribute(su, "unix:mode") & 07777);
        assertEquals(Files.getAttribute(su, "unix:ino"), Files.getAttribute(root.resolve("bin/su-link"), "unix:ino"));
        assertEquals(2, (int) Files.getAttribute(su, "unix:nlink"));
        assertEquals(Path.of("su"), Files.readSymbolicLink(root.resolve("bin/alias")));
    }

    @Test
    void userXattrsAreSetFromPaxHeaders() throws IOException {
        Path probe = Files.writeString(tmp.resolve("probe"), "");
        UserDefinedFileAttributeView view = Files.getFileAttributeView(probe, UserDefinedFileAttributeView.class);
        try {
            view.write("kelpie.probe", ByteBuffer.wrap(new byte[] {1}));
        } catch (IOException | UnsupportedOperationException e) {
            assumeTrue(false, "the test directory's filesystem has no user xattrs");
        }
        Files.delete(probe);
        apply(t -> {
            TarArchiveEntry e = new TarArchiveEntry("tagged");
            byte[] body = "x".getBytes(StandardCharsets.UTF_8);
            e.setSize(body.length);
            e.setMode(0644);
            e.addPaxHeader("SCHILY.xattr.user.origin", "image");
            e.addPaxHeader("SCHILY.xattr.security.selinux", "system_u:object_r:bin_t:s0");
            t.putArchiveEntry(e);
            t.write(body);
            t.closeArchiveEntry();
        });
        UserDefinedFileAttributeView tagged = Files.getFileAttributeView(root.resolve("tagged"),
                UserDefinedFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        ByteBuffer value = ByteBuffer.allocate(16);
        tagged.read("origin", value);
        assertArrayEquals("image".getBytes(StandardCharsets.UTF_8), java.util.Arrays.copyOf(value.array(),
                value.position()));
        assertEquals(List.of("origin"), tagged.list(), "only user.* and capabilities are set");
    }

    @Test
    void aFileReplacesASymlinkRatherThanWritingThroughIt() throws IOException {
        apply(t -> symlink(t, "victim", outside.resolve("target").toString()));
        apply(t -> TestImagePusher.file(t, "victim", 0644, "inside"));

        assertTrue(Files.isRegularFile(root.resolve("victim"), LinkOption.NOFOLLOW_LINKS));
        assertOutsideUntouched();
    }

    @Test
    void dotDotNamesAreRefused() {
        var e = assertThrows(HostileLayerException.class,
                () -> apply(t -> TestImagePusher.file(t, "../outside/pwned", 0644, "x")));
        assertEquals(ErrorKind.UNSUPPORTED, e.kind());
        assertTrue(e.getMessage().contains("../outside/pwned"), e.getMessage());
    }

    @Test
    void absoluteNamesLandInsideTheRoot() throws IOException {
        apply(t -> TestImagePusher.file(t, outside.resolve("pwned").toString(), 0644, "x"));
        assertTrue(Files.exists(root.resolve(outside.toString().substring(1)).resolve("pwned")));
        assertOutsideUntouched();
    }

    @Test
    void symlinkedParentsResolveInsideTheRoot() throws IOException {
        apply(t -> {
            symlink(t, "abs", outside.toString());
            symlink(t, "rel", "../../../../../../../" + outside);
            symlink(t, "chain", "rel");
            symlink(t, "dotdot", "..");
        });
        apply(t -> {
            TestImagePusher.file(t, "abs/pwned-abs", 0644, "x");
            TestImagePusher.file(t, "chain/pwned-chain", 0644, "x");
            TestImagePusher.file(t, "dotdot/pwned-dotdot", 0644, "x");
        });

        Path mirrored = root.resolve(outside.toString().substring(1));
        assertTrue(Files.exists(mirrored.resolve("pwned-abs")));
        assertTrue(Files.exists(mirrored.resolve("pwned-chain")));
        assertTrue(Files.exists(root.resolve("pwned-dotdot")), "'..' at the root stays at the root");
        assertOutsideUntouched();
    }

    @Test
    void symlinkLoopsAreRefused() {
        assertThrows(HostileLayerException.class, () -> apply(t -> {
            symlink(t, "loop", "loop");
            TestImagePusher.file(t, "loop/x", 0644, "x");
        }));
    }

    @Test
    void hardLinksMustNameARegularFileInTheRoot() throws IOException {
        Files.writeString(outside.resolve("secret"), "host secret");
        assertThrows(HostileLayerException.class, () -> apply(t -> hardlink(t, "h1", outside.resolve("secret")
                .toString())), "an absolute target is looked up in the root, where it is not");
        assertThrows(HostileLayerException.class, () -> apply(t -> {
            symlink(t, "out", outside.resolve("secret").toString());
            hardlink(t, "h2", "out");
        }), "a hard link to a symlink could be a link to the host's file");
        assertThrows(HostileLayerException.class, () -> apply(t -> hardlink(t, "h3", "../outside/secret")));
        assertEquals(1, (int) Files.getAttribute(outside.resolve("secret"), "unix:nlink"));
        Files.delete(outside.resolve("secret"));
        assertOutsideUntouched();
    }

    @Test
    void whiteoutsNameOnlyEntriesInTheirDirectory() {
        assertThrows(HostileLayerException.class, () -> apply(t -> TestImagePusher.file(t, "etc/.wh...", 0644, "")));
    }

    @Test
    void deviceNodesAreLeftOut() throws IOException {
        apply(t -> {
            TarArchiveEntry e = new TarArchiveEntry("dev/sda", TarConstants.LF_BLK);
            e.setDevMajor(8);
            t.putArchiveEntry(e);
            t.closeArchiveEntry();
            TarArchiveEntry f = new TarArchiveEntry("run/fifo", TarConstants.LF_FIFO);
            t.putArchiveEntry(f);
            t.closeArchiveEntry();
        });
        assertFalse(Files.exists(root.resolve("dev/sda"), LinkOption.NOFOLLOW_LINKS));
        assertEquals(2, unpacker.skippedDevices());
    }

    @Test
    void aRootOverTheLimitFailsBeforeTheFileIsWritten() {
        LayerUnpacker small = new LayerUnpacker(root, ONE_MIB, "big-image");
        var e = assertThrows(RootTooLargeException.class, () -> small.apply(new ByteArrayInputStream(
                TestImagePusher.tar(t -> TestImagePusher.file(t, "big", 0644, "y".repeat(2 * (int) ONE_MIB)))), "l"));
        assertEquals(ErrorKind.NO_ROOM, e.kind());
        assertFalse(Files.exists(root.resolve("big")));
    }

    @Test
    void namesLongerThanTheFileSystemTakesAreRefusedByName() {
        String longComponent = "n".repeat(256);
        var e = assertThrows(HostileLayerException.class,
                () -> apply(t -> TestImagePusher.file(t, "etc/" + longComponent, 0644, "x")));
        assertTrue(e.getMessage().contains("longer than 255 bytes"), e.getMessage());
        String deep = ("d".repeat(200) + "/").repeat(25) + "file";
        var tooDeep = assertThrows(HostileLayerException.class, () -> apply(t -> TestImagePusher.file(t, deep, 0644, "x")));
        assertTrue(tooDeep.getMessage().contains("4096 bytes or more"), tooDeep.getMessage());
    }

    @Test
    void aHardLinkThatWouldReplaceItsOwnSourceIsRefused() throws IOException {
        assertThrows(HostileLayerException.class, () -> apply(t -> {
            TestImagePusher.file(t, "self", 0644, "x");
            hardlink(t, "self", "self");
        }));
        assertThrows(HostileLayerException.class, () -> apply(t -> {
            TestImagePusher.file(t, "d/inner", 0644, "x");
            hardlink(t, "d", "d/inner");
        }));
        assertOutsideUntouched();
    }

    @Test
    void anXattrWhoseBase64DoesNotDecodeIsLeftOut() throws IOException {
        apply(t -> {
            TarArchiveEntry e = new TarArchiveEntry("tagged");
            e.setSize(1);
            e.setMode(0644);
            e.addPaxHeader("LIBARCHIVE.xattr.user.origin", "not base64!");
            t.putArchiveEntry(e);
            t.write('x');
            t.closeArchiveEntry();
        });
        assertEquals("x", Files.readString(root.resolve("tagged")));
    }

    @Test
    void aTarThatDoesNotParseIsDamaged() {
        byte[] garbage = new byte[1024];
        java.util.Arrays.fill(garbage, (byte) 'z');
        var e = assertThrows(dev.kelpie.daemon.errors.KelpieException.class,
                () -> unpacker.apply(new ByteArrayInputStream(garbage), "l"));
        assertEquals(ErrorKind.CORRUPT, e.kind());
    }
}
