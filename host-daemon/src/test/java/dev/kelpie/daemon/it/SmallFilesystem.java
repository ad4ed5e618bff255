package dev.kelpie.daemon.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A tmpfs of a fixed size mounted on a directory, so that a test can run the daemon out of disk space in one place
 * without filling the host's disk. Mounting needs root (CAP_SYS_ADMIN); without it the calling test is skipped.
 * Closing unmounts it (lazily if something still holds it open, so that a failed test never leaves it mounted).
 */
final class SmallFilesystem implements AutoCloseable {

    private static final long COMMAND_TIMEOUT_SECONDS = 30;

    final Path mountPoint;
    final long sizeBytes;

    private SmallFilesystem(Path mountPoint, long sizeBytes) {
        this.mountPoint = mountPoint;
        this.sizeBytes = sizeBytes;
    }

    /** Mounts a tmpfs of {@code sizeBytes} on {@code mountPoint} (created if missing), or skips the test. */
    static SmallFilesystem mount(Path mountPoint, long sizeBytes) throws IOException, InterruptedException {
        Assumptions.assumeTrue(isRoot(), "mounting a small filesystem needs root; run the tests as root to cover disk full");
        Files.createDirectories(mountPoint);
        String out = run("mount", "-t", "tmpfs", "-o", "size=" + sizeBytes + ",mode=0755", "tmpfs", mountPoint.toString());
        Assumptions.assumeTrue(out == null, "mount -t tmpfs failed (no CAP_SYS_ADMIN here?): " + out);
        return new SmallFilesystem(mountPoint, sizeBytes);
    }

    static boolean isRoot() throws IOException {
        return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        String out = run("umount", mountPoint.toString());
        if (out != null && run("umount", "-l", mountPoint.toString()) != null) {
            throw new IOException("unmounting " + mountPoint + " failed: " + out);
        }
    }

    /** Runs a command and returns null when it succeeded, else its output. */
    private static String run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return String.join(" ", command) + " did not finish within " + COMMAND_TIMEOUT_SECONDS + " s";
        }
        return p.exitValue() == 0 ? null : String.join(" ", command) + ": exit " + p.exitValue() + ": " + out.strip();
    }
}
