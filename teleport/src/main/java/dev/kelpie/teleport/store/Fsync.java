package dev.kelpie.teleport.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Durability for the local store: a rename publishes only what the disk already holds. */
final class Fsync {

    private Fsync() {}

    /**
     * Flushes a directory's entries, so files created in it (or renamed into or out of it) survive a crash. Linux and
     * macOS allow opening a directory for reading, which is all this needs.
     */
    static void directory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }
}
