package dev.kelpie.teleport.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/** Removing staging and package directories. */
public final class FileTrees {

    private FileTrees() {}

    /**
     * Removes a tree if it exists, without following symlinks (a link inside is removed, never what it points to):
     * a package or workspace is untrusted content.
     */
    public static void delete(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path visited, IOException failure) throws IOException {
                if (failure != null) {
                    throw failure;
                }
                Files.delete(visited);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** {@link #delete} for cleanup that cannot throw a checked exception: {@code close()} and {@code finally} blocks. */
    public static void deleteUnchecked(Path dir) {
        try {
            delete(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("removing " + dir + " failed", e);
        }
    }
}
