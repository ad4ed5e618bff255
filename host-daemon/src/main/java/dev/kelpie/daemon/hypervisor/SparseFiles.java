package dev.kelpie.daemon.hypervisor;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Copies a mostly empty disk image without writing its holes: a 1 GiB template with a few MiB of metadata costs a
 * few MiB per sandbox. The JDK's copy fills holes, so this asks the OS tool that keeps them: a reflink clone where the
 * file system has one (APFS, Btrfs, XFS: no byte is copied, blocks are shared until written), else a copy of the data
 * extents only (SEEK_DATA), which also turns runs of zeros into holes.
 */
public final class SparseFiles {

    private static final long COPY_TIMEOUT_SECONDS = 60;

    private SparseFiles() {}

    public static void copy(Path source, Path target) throws IOException, InterruptedException {
        boolean macOs = System.getProperty("os.name").toLowerCase().contains("mac");
        List<String> argv = macOs ? List.of("cp", "-c", source.toString(), target.toString())
                : List.of("cp", "--reflink=auto", "--sparse=always", source.toString(), target.toString());
        Process cp = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String output = new String(cp.getInputStream().readAllBytes());
        if (!cp.waitFor(COPY_TIMEOUT_SECONDS, TimeUnit.SECONDS) || cp.exitValue() != 0) {
            cp.destroyForcibly();
            Files.deleteIfExists(target);
            throw new IOException("sparse copy of " + source + " failed: " + output.strip());
        }
    }

    /**
     * Makes {@code file} {@code lengthBytes} long by a hole at its end: no byte is written, so a disk grown to 64 GiB
     * costs the host nothing until the guest writes there. Never shrinks a file: cutting would lose its data.
     */
    public static void growTo(Path file, long lengthBytes) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            if (raf.length() < lengthBytes) {
                raf.setLength(lengthBytes);
            }
        }
    }
}
