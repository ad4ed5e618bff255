package dev.kelpie.daemon.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** RAM files on a real file system: links as reference counts, the sparse freeze, the sweep. */
class QemuRamFilesTest {

    private static final long MIB = 1024 * 1024;

    @TempDir
    Path dir;

    @Test
    void aFrozenCopyKeepsTheTouchedPagesOnlyAndEachCloneHasItsOwnFile() throws Exception {
        QemuRamFiles ram = new QemuRamFiles(dir.resolve("ram"));
        Path source = ram.fresh("sb1");
        try (RandomAccessFile f = new RandomAccessFile(source.toFile(), "rw")) {
            f.setLength(64L * MIB);
            f.seek(10L * MIB);
            f.write(new byte[] {1, 2, 3});
        }
        Path frozen = ram.freeze("sb1", "fork-a");
        Path clone = ram.copyOf("sb2", frozen);

        assertEquals(64L * MIB, Files.size(frozen));
        long allocatedKib = allocatedKib(frozen);
        assertTrue(allocatedKib < 1024, "only the touched page is copied: " + allocatedKib + " KiB allocated");
        assertEquals(1, (int) Files.getAttribute(frozen, "unix:nlink"), "a clone's discards cannot reach the snapshot");
        Files.delete(frozen);
        ram.delete("sb1");
        try (RandomAccessFile f = new RandomAccessFile(clone.toFile(), "r")) {
            byte[] read = new byte[3];
            f.seek(10L * MIB);
            f.readFully(read);
            assertArrayEquals(new byte[] {1, 2, 3}, read, "the source and the snapshot are gone, the clone's memory is not");
        }
    }

    @Test
    void aLinkedCloneNamesTheSnapshotsPagesWhichOutliveTheSnapshotsOwnName() throws Exception {
        QemuRamFiles ram = new QemuRamFiles(dir.resolve("ram"));
        Path source = ram.fresh("sb1");
        Files.write(source, new byte[] {7, 8, 9});
        Path frozen = ram.freeze("sb1", "fork-b");

        Path first = ram.linkTo("sb2", frozen);
        Path second = ram.linkTo("sb3", frozen);

        assertEquals(3, (int) Files.getAttribute(frozen, "unix:nlink"), "one inode for the snapshot and its clones");
        ram.delete("fork-b");
        ram.delete("sb1");
        ram.delete("sb2");
        assertArrayEquals(new byte[] {7, 8, 9}, Files.readAllBytes(second), "the last clone keeps the pages");
        assertFalse(Files.exists(first));
    }

    /** What the file occupies on disk ({@code du}: the JDK has no block count). */
    private static long allocatedKib(Path file) throws Exception {
        Process du = new ProcessBuilder("du", "-k", file.toString()).start();
        String out = new String(du.getInputStream().readAllBytes());
        assertEquals(0, du.waitFor(), out);
        return Long.parseLong(out.split("\\s+")[0]);
    }

    @Test
    void theSweepKeepsOnlyTheRamOfRuntimeDirectories() throws Exception {
        QemuRamFiles ram = new QemuRamFiles(dir.resolve("ram"));
        for (String name : List.of("sb1", "sb2", "fork-x", "pkg-abc")) {
            Files.writeString(ram.fresh(name), name);
        }
        Files.writeString(ram.stateOf("pkg-abc"), "device state");
        Files.writeString(ram.dir().resolve("fork-y.ram.partial"), "cut short");

        ram.sweep(Set.of("sb1", "fork-z"));

        try (Stream<Path> left = Files.list(ram.dir())) {
            assertEquals(List.of("sb1.ram"), left.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void aSweepThatLeavesNothingRemovesTheDirectoryAndTheNextVmMakesItAgain() throws Exception {
        QemuRamFiles ram = new QemuRamFiles(dir.resolve("ram"));
        Files.writeString(ram.fresh("gone"), "gone");

        ram.sweep(Set.of());

        assertTrue(Files.notExists(ram.dir()), "an empty RAM directory is left in " + dir);
        ram.sweep(Set.of());
        Path next = ram.fresh("next");
        assertTrue(Files.isDirectory(next.getParent()), "fresh() did not make the directory again");
    }

    @Test
    void eachDaemonHasADirectoryOfItsOwnNamedAfterItsStateDirectory() {
        Path a = QemuRamFiles.defaultDir(Path.of("/var/lib/kelpie"));
        Path b = QemuRamFiles.defaultDir(Path.of("/tmp/other/state"));
        assertTrue(!a.equals(b), a + " vs " + b);
        assertEquals(a, QemuRamFiles.defaultDir(Path.of("/var/lib/kelpie/../kelpie")));
        assertTrue(a.startsWith("/dev/shm"), a.toString());
    }
}
