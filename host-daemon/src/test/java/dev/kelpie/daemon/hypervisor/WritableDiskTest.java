package dev.kelpie.daemon.hypervisor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.images.BootImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A VM's writable disk: the template's bytes, grown by a hole to the size asked for, on whatever the host is. */
class WritableDiskTest {

    private static final long MIB_BYTES = 1024L * 1024;
    private static final long TEMPLATE_MIB = 4;
    /** Far more than a test may write: only a hole can make the file this long within the allocation bound below. */
    private static final long GROWN_MIB = 8192;
    /** The template's one written MiB plus file-system slack; a filled extension would be ~8 GiB. */
    private static final long MAX_ALLOCATED_BYTES = 16 * MIB_BYTES;

    @TempDir
    Path dir;

    @Test
    void theTemplateIsCopiedAndGrownByAHole() throws Exception {
        Path template = template();
        Path disk = dir.resolve("vm/disk.ext4");
        Files.createDirectories(disk.getParent());

        WritableDisk.create(spec(template, GROWN_MIB), disk);

        assertEquals(GROWN_MIB * MIB_BYTES, Files.size(disk), "the file has the size asked for");
        long allocated = allocatedBytes(disk);
        assertTrue(allocated < MAX_ALLOCATED_BYTES, "no byte of the extension is written: " + allocated + " allocated");
        byte[] head = new byte[(int) MIB_BYTES];
        try (var in = Files.newInputStream(disk)) {
            assertEquals(head.length, in.readNBytes(head, 0, head.length));
        }
        assertArrayEquals(marker(), head, "the template's data is there, unchanged");
    }

    @Test
    void aDiskOfTheTemplatesSizeStaysAsItIs() throws Exception {
        Path disk = dir.resolve("disk.ext4");

        WritableDisk.create(spec(template(), TEMPLATE_MIB), disk);

        assertEquals(TEMPLATE_MIB * MIB_BYTES, Files.size(disk));
    }

    @Test
    void growingNeverShrinks() throws Exception {
        Path file = dir.resolve("f");
        Files.write(file, new byte[4096]);

        SparseFiles.growTo(file, 1024);

        assertEquals(4096, Files.size(file), "a smaller length cuts nothing");
    }

    /** A template of TEMPLATE_MIB: one MiB of data, the rest a hole, as the image's template is mostly empty. */
    private Path template() throws Exception {
        Path template = dir.resolve("disk-template.ext4");
        Files.write(template, marker());
        SparseFiles.growTo(template, TEMPLATE_MIB * MIB_BYTES);
        return template;
    }

    private static byte[] marker() {
        byte[] data = new byte[(int) MIB_BYTES];
        Arrays.fill(data, (byte) 0x5a);
        return data;
    }

    private static VmSpec spec(Path template, long diskSizeMib) {
        BootImage image = new BootImage("1.2.3", "x86_64", template.getParent(), template.resolveSibling("vmlinux"),
                "console=ttyS0", template.resolveSibling("rootfs.ext4"), template, TEMPLATE_MIB, "0.1.0", 1,
                "a".repeat(64), "b".repeat(64));
        return new VmSpec("vm1", template.resolveSibling("vm"), image, 1, 256, diskSizeMib);
    }

    /** Bytes the file occupies on disk, holes excluded (du -k: KiB, on Linux and macOS alike). */
    private static long allocatedBytes(Path file) throws Exception {
        Process du = new ProcessBuilder("du", "-k", file.toString()).redirectErrorStream(true).start();
        String out = new String(du.getInputStream().readAllBytes()).strip();
        assertEquals(0, du.waitFor(), "du: " + out);
        return Long.parseLong(out.split("\\s+")[0]) * 1024;
    }
}
