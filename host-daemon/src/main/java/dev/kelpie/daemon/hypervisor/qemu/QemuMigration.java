package dev.kelpie.daemon.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kelpie.daemon.hypervisor.VmException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * A VM's state to or from a file through QEMU's migration. QEMU 7.2 has no {@code file:} URI, so the stream goes
 * through {@code exec:}, a {@code /bin/sh -c} child of qemu; {@code query-migrate} tells how far it got.
 */
final class QemuMigration {

    /**
     * Saving and loading take time proportional to the guest's touched memory: about 1 GB/s here under TCG on a
     * loaded 2-core host, so even a 16 GiB guest is far inside this.
     */
    static final Duration MIGRATION_TIMEOUT = Duration.ofMinutes(5);
    /** A state save of a small guest completes in a few hundred ms; finer polling would only cost QMP connections. */
    static final long POLL_INTERVAL_MS = 50;

    /**
     * The migration capability that leaves {@code share=on} RAM out of the stream: the destination maps the same file
     * instead. Both ends must set it (QEMU 4.0 and later; still experimental, hence the {@code x-}, in 7.2).
     */
    static final String IGNORE_SHARED = "x-ignore-shared";

    private QemuMigration() {}

    /**
     * Writes the migration stream to {@code file}. When the writer fails (e.g. a full disk) after QEMU handed it the
     * last bytes, QEMU still reports success, so the shell removes the file: a file left once the writer ended is
     * complete.
     */
    static String saveUri(Path file) {
        String quoted = shellQuoted(file);
        return "exec:cat > " + quoted + " || rm -f " + quoted;
    }

    static String loadUri(Path file) {
        return "exec:cat " + shellQuoted(file);
    }

    /** The path in single quotes for {@code /bin/sh}, with any single quote in it escaped. */
    static String shellQuoted(Path file) {
        return "'" + file.toString().replace("'", "'\\''") + "'";
    }

    /**
     * Polls {@code query-migrate} until the migration {@code completed} and returns that status.
     *
     * @param alive whether qemu still runs: a VMM that failed to load a state exits, which ends QMP mid-poll
     * @throws VmException when the migration failed or was cancelled (with QEMU's reason), qemu ended, or
     *     {@code timeout} passed
     */
    static JsonNode awaitCompleted(QmpClient qmp, Duration timeout, BooleanSupplier alive) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode status;
            try {
                status = qmp.execute("query-migrate");
            } catch (VmException e) {
                if (!alive.getAsBoolean()) {
                    throw new VmException("qemu ended during the migration");
                }
                throw e;
            }
            switch (status.path("status").asText("none")) {
                case "completed" -> {
                    return status;
                }
                case "failed", "cancelled" -> throw new VmException("the migration " + status.path("status").asText()
                        + ": " + status.path("error-desc").asText("qemu gave no reason"));
                default -> {
                    // none (an incoming one not begun yet), setup, active, device, cancelling: not over yet.
                }
            }
            if (System.nanoTime() > deadline) {
                throw new VmException("the migration did not complete within " + timeout.toSeconds() + " s (status "
                        + status.path("status").asText("none") + ", " + status.path("ram").path("transferred").asLong()
                        + " of " + status.path("ram").path("total").asLong() + " bytes of RAM)");
            }
            Thread.sleep(POLL_INTERVAL_MS);
        }
    }

    /**
     * Waits until no process writes {@code file} any more: QEMU reports a migration completed before its
     * {@code exec:} writer has flushed its last buffer, and the writer outlives a qemu that is killed meanwhile.
     */
    static void awaitWriters(Path file, Duration timeout) throws InterruptedException {
        String name = file.toString();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (ProcessHandle.allProcesses().anyMatch(p -> p.info().commandLine().orElse("").contains(name))) {
            if (System.nanoTime() > deadline) {
                throw new VmException("the process writing " + file + " did not finish within " + timeout.toSeconds()
                        + " s");
            }
            Thread.sleep(POLL_INTERVAL_MS);
        }
    }

    /** Whether {@code query-migrate} shows a migration that has not ended yet: one {@code migrate_cancel} stops. */
    static boolean isRunning(JsonNode status) {
        return switch (status.path("status").asText("none")) {
            case "setup", "active", "device", "pre-switchover", "wait-unplug", "cancelling" -> true;
            default -> false;
        };
    }
}
