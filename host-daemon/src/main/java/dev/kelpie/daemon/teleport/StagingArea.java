package dev.kelpie.daemon.teleport;

import dev.kelpie.teleport.store.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Scratch space for snapshots and restores, inside the state directory so that a restored disk moves into a VM's
 * runtime directory by rename. Each operation gets its own directory and removes it when done; whatever a crash left
 * is removed when the daemon starts.
 */
public final class StagingArea {

    private static final int NAME_RANDOM_BYTES = 6;
    private final Path root;
    private final SecureRandom random = new SecureRandom();

    public StagingArea(Path root) {
        this.root = root;
    }

    /** Removes leftovers of operations that a crash interrupted. Call before serving. */
    public void clean() {
        FileTrees.deleteUnchecked(root);
    }

    /** A fresh directory for one operation; the caller deletes it with {@link FileTrees#deleteUnchecked}. */
    public Path newDirectory(String purpose) throws IOException {
        Files.createDirectories(root);
        byte[] bytes = new byte[NAME_RANDOM_BYTES];
        random.nextBytes(bytes);
        return Files.createDirectory(root.resolve(purpose + "-" + HexFormat.of().formatHex(bytes)));
    }

    /** Whatever is in it now, for tests and leak checks. */
    public Path root() {
        return root;
    }
}
