package dev.kelpie.teleport.testing;

import dev.kelpie.teleport.store.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A scratch directory for fuzz tests that create and remove files on every input. It lives on tmpfs
 * ({@value #TMPFS}) where the machine has one: there a directory costs microseconds and an fsync nothing, while a
 * journaled disk takes tens of milliseconds per input, which would leave a short fuzz run a few hundred inputs.
 */
public final class FuzzScratch implements AutoCloseable {

    static final String TMPFS = "/dev/shm";

    private final Path dir;

    private FuzzScratch(Path dir) {
        this.dir = dir;
    }

    public static FuzzScratch create(String prefix) throws IOException {
        Path tmpfs = Path.of(TMPFS);
        boolean usable = Files.isDirectory(tmpfs) && Files.isWritable(tmpfs);
        return new FuzzScratch(usable ? Files.createTempDirectory(tmpfs, prefix) : Files.createTempDirectory(prefix));
    }

    public Path dir() {
        return dir;
    }

    @Override
    public void close() throws IOException {
        FileTrees.delete(dir);
    }
}
