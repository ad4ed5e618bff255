package dev.kelpie.daemon.images.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.ImageNotFoundException;
import dev.kelpie.daemon.images.cache.ImageCache;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An OCI image on the base image's kernel: its root gets the base root's agent, the command line names it as init. */
class OciBootImagesTest {

    @TempDir
    Path tmp;

    private ImageCache cache;
    private OciImageStore store;
    private OciBootImages boots;

    @BeforeEach
    void setUp() throws Exception {
        ObjectMapper json = new ObjectMapper();
        cache = new ImageCache(tmp.resolve("cache"), json, Clock.systemUTC());
        cache.open();
        store = new OciImageStore(cache, json);
        // A cached image never reaches the puller; an uncached one would, and these tests have none.
        boots = new OciBootImages(store, null, new OciRootBuilder(cache, 64L << 20));
    }

    @Test
    void theKernelCommandLineNamesTheInjectedAgentAsInit() {
        assertEquals("console=ttyS0 root=/dev/vda ro init=/.kelpie/kelpie-agent panic=-1",
                OciBootImages.kernelCmdline("console=ttyS0 root=/dev/vda ro init=/sbin/kelpie-agent panic=-1"));
        assertEquals("root=/dev/vda init=/.kelpie/kelpie-agent", OciBootImages.kernelCmdline("root=/dev/vda"));
        assertEquals("xinit=1 init=/.kelpie/kelpie-agent", OciBootImages.kernelCmdline("xinit=1 init=/x"));
    }

    @Test
    void aCachedImageBootsOnTheBaseKernelWithTheBaseRootsAgentInItsRoot() throws Exception {
        OciImage image = OciRootBuilderTest.cached(store, tmp, List.of(TestImagePusher.gzip(TestImagePusher.tar(t ->
                TestImagePusher.file(t, "etc/marker", 0644, "image")))));
        BootImage base = base(baseRoot("the base image's agent"));

        OciBoot boot = boots.prepare("sha256:" + image.manifestSha256(), base);

        assertEquals(image.manifestDigest(), boot.oci().manifestDigest());
        assertEquals(cache.ociRoot(image.manifestSha256()), boot.image().rootfs());
        assertEquals(base.kernel(), boot.image().kernel());
        assertEquals(base.diskTemplate(), boot.image().diskTemplate(), "the writable disk is the base image's");
        assertTrue(boot.image().kernelCmdline().contains("init=" + OciRootBuilder.AGENT_PATH), boot.image().kernelCmdline());
        assertTrue(OciRootBuilderTest.debugfs(boot.image().rootfs(), "cat " + OciRootBuilder.AGENT_PATH).contains("the base image's agent"));
        assertNoStaging();
    }

    @Test
    void aBaseRootWithoutAnAgentFailsWithNoRootLeft() throws Exception {
        OciImage image = OciRootBuilderTest.cached(store, tmp, List.of(TestImagePusher.gzip(TestImagePusher.tar(t ->
                TestImagePusher.file(t, "etc/marker", 0644, "image")))));
        Path tree = Files.createDirectories(tmp.resolve("empty-base/etc"));
        Path rootfs = mke2fs(tree.getParent());

        var e = assertThrows(OciRootBuildException.class, () -> boots.prepare(image.manifestDigest(), base(rootfs)));
        assertTrue(e.getMessage().contains(OciBootImages.BASE_AGENT_PATH), e.getMessage());
        assertFalse(Files.exists(cache.ociRoot(image.manifestSha256())));
        assertTrue(store.find(image.manifestSha256()).isPresent(), "an image that was cached before stays");
        assertNoStaging();
    }

    @Test
    void aBareDigestOfNoCachedImageIsNotFound() {
        var e = assertThrows(ImageNotFoundException.class, () -> boots.prepare("sha256:" + "0".repeat(64),
                base(tmp.resolve("unused"))));
        assertTrue(e.getMessage().contains("not in the cache"), e.getMessage());
    }

    private Path baseRoot(String agent) throws Exception {
        Path tree = tmp.resolve("base");
        Files.createDirectories(tree.resolve("usr/sbin"));
        Files.writeString(tree.resolve("usr/sbin/kelpie-agent"), agent);
        return mke2fs(tree);
    }

    private Path mke2fs(Path tree) throws Exception {
        Path ext4 = tmp.resolve(tree.getFileName() + ".ext4");
        Process p = new ProcessBuilder("mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.toString(), ext4.toString(), "8M")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, out);
        return ext4;
    }

    private BootImage base(Path rootfs) {
        return new BootImage("1.0.0", "x86_64", tmp, tmp.resolve("vmlinux"), "console=ttyS0 root=/dev/vda ro "
                + "init=/sbin/kelpie-agent", rootfs, tmp.resolve("disk.ext4"), 64, "1.0.0", 1, "k", "r");
    }

    private void assertNoStaging() throws Exception {
        try (Stream<Path> s = Files.list(cache.root().resolve("staging"))) {
            assertEquals(List.of(), s.toList(), "no staging tree is left");
        }
    }
}
