package dev.kelpie.daemon.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.SparseFiles;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One {@link QemuVm#saveState}: the vCPUs stop, QEMU migrates the VM into a file beside the memory file, the writable
 * disk is copied while the guest still cannot write to it, and the guest runs on if it ran before. Everything the
 * save wrote is deleted when it fails.
 *
 * <p>A completed migration leaves the source in runstate {@code postmigrate} with its block devices inactivated
 * (handed over to a destination that does not exist here); {@code cont} reactivates them and runs the guest, with its
 * agent connection still open. A VM that was paused stays so, in {@code postmigrate}, until it is resumed.
 */
final class QemuStateSave {

    /**
     * QEMU caps a migration at 128 MiB/s by default, which is meant to spare a network link and would make a save of a
     * 4 GiB guest take half a minute; a file takes what the disk gives. 1 TiB/s is no limit in practice.
     */
    static final long MAX_BANDWIDTH_BYTES_PER_SECOND = 1L << 40;
    /**
     * QEMU reports a migration completed before it closes the stream and reaps its writer, which may still be
     * flushing its last buffer; that takes milliseconds unless the host disk is stalled.
     */
    static final Duration WRITER_EXIT_TIMEOUT = Duration.ofSeconds(30);
    /**
     * {@code stop} drains the disks and flushes the writable one to the host file (fdatasync), which lasts as long as
     * the host needs to write the guest's dirty data.
     */
    static final Duration STOP_TIMEOUT = Duration.ofSeconds(60);
    /** How long a cancelled migration may take to wind down before the files are deleted under it anyway. */
    static final Duration CANCEL_TIMEOUT = Duration.ofSeconds(10);
    private static final int LOG_TAIL_LINES = 10;

    /** Where a local snapshot's device state goes in its work directory. */
    static final String LOCAL_STATE_FILE = "state";

    private final QmpClient qmp;
    private final ProcessHandle process;
    private final QemuRuntimeFiles files;
    private final String accelerator;
    private final String vm;
    private final QemuRamFiles ram;
    private final String vmId;
    private boolean resumeAfterwards;
    private boolean migrating;
    private boolean ignoringShared;
    private String frozenName;

    QemuStateSave(QmpClient qmp, ProcessHandle process, QemuRuntimeFiles files, String accelerator, String vm,
            QemuRamFiles ram, String vmId) {
        this.qmp = qmp;
        this.process = process;
        this.files = files;
        this.accelerator = accelerator;
        this.vm = vm;
        this.ram = ram;
        this.vmId = vmId;
    }

    SavedVmState run(Path memoryFile, Path diskFile) throws InterruptedException {
        return run(memoryFile, diskFile, false);
    }

    /**
     * A local snapshot: QEMU's {@code x-ignore-shared} capability leaves the {@code share=on} RAM out of the stream
     * (device state only, tens of KiB), and the RAM file is frozen by a sparse copy while the vCPUs are still stopped.
     * The copy is what makes it a snapshot: the VM writes on into its own file once it runs again. A VM whose RAM is
     * not shared (a clone maps its snapshot privately) has its RAM in the stream as in a full save, which a clone
     * of it then loads over the frozen file: slower, still right.
     */
    SavedVmState runLocal(Path workDir) throws InterruptedException {
        if (ram == null) {
            throw new dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException("VM " + vm + " runs on anonymous"
                    + " memory (started by a daemon without a RAM directory), which clones cannot map");
        }
        frozenName = workDir.getFileName().toString();
        return run(workDir.resolve(LOCAL_STATE_FILE), workDir.resolve(dev.kelpie.daemon.hypervisor.WritableDisk.FILE_NAME),
                true);
    }

    private SavedVmState run(Path memoryFile, Path diskFile, boolean local) throws InterruptedException {
        Path partial = memoryFile.resolveSibling(memoryFile.getFileName() + ".partial");
        try {
            SavedVmState saved = save(memoryFile, diskFile, partial, local);
            if (resumeAfterwards) {
                resumeAfterwards = false;
                resume();
            }
            return saved;
        } catch (InterruptedException | dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException e) {
            abandon(partial, memoryFile, diskFile, e);
            throw e;
        } catch (IOException | RuntimeException e) {
            String reason = process.isAlive() ? e.getMessage() : "its qemu process is gone (qemu.log: " + logTail() + ")";
            VmException failure = new VmException("saving the state of " + vm + " failed: " + reason, e);
            abandon(partial, memoryFile, diskFile, failure);
            throw failure;
        }
    }

    private SavedVmState save(Path memoryFile, Path diskFile, Path partial, boolean local)
            throws IOException, InterruptedException {
        if (!process.isAlive()) {
            throw new VmException("its qemu process is gone");
        }
        VmPlatform platform = runningPlatform();
        JsonNode status = qmp.execute("query-status");
        if (status.path("status").asText().equals("postmigrate")) {
            // QEMU refuses to migrate a VM that has not run since its last migration completed: the caller's to fix.
            throw new dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException("VM " + vm + " was saved (or forked)"
                    + " while paused and has not run since, and QEMU saves a VM only once per pause; resume it before"
                    + " saving or forking it again");
        }
        resumeAfterwards = status.path("running").asBoolean();
        qmp.execute("migrate-set-parameters", Map.of("max-bandwidth", MAX_BANDWIDTH_BYTES_PER_SECOND));
        // Stopped first, QEMU writes the memory in one pass (nothing dirties it), and the disk copy below is of the
        // same instant.
        qmp.execute("stop", Map.of(), STOP_TIMEOUT);
        Files.deleteIfExists(partial);
        if (local) {
            ignoreShared(true);
        }
        qmp.execute("migrate", Map.of("uri", QemuMigration.saveUri(partial)));
        migrating = true;
        try {
            QemuMigration.awaitCompleted(qmp, QemuMigration.MIGRATION_TIMEOUT, process::isAlive);
        } catch (VmException e) {
            throw new VmException(e.getMessage() + " (qemu.log: " + logTail() + ")", e);
        }
        migrating = false;
        awaitWriterExit(partial, WRITER_EXIT_TIMEOUT);
        if (!Files.isRegularFile(partial)) {
            throw new VmException("writing " + partial + " failed (qemu.log: " + logTail() + ")");
        }
        // Still stopped: the guest cannot write, and QEMU flushed the disk when it stopped the vCPUs.
        SparseFiles.copy(files.writableDisk(), diskFile);
        Optional<Path> frozen = Optional.empty();
        if (local) {
            ignoreShared(false);
            frozen = Optional.of(ram.freeze(vmId, frozenName));
        }
        Files.move(partial, memoryFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return new SavedVmState(memoryFile, diskFile, platform, frozen);
    }

    /**
     * The capability stays set in the running qemu until changed: a later full save (a vm package) with it still on
     * would leave the RAM out of the package.
     */
    private void ignoreShared(boolean on) {
        qmp.execute("migrate-set-capabilities", Map.of("capabilities",
                List.of(Map.of("capability", QemuMigration.IGNORE_SHARED, "state", on))));
        ignoringShared = on;
    }

    /** {@code cont} works from {@code postmigrate} too, and reactivates the disks the migration inactivated. */
    private void resume() {
        try {
            qmp.execute("cont");
        } catch (VmException e) {
            throw new VmException("the state was written, but the guest did not run again: " + e.getMessage(), e);
        }
    }

    /**
     * The platform as the running qemu reports it: a VM adopted after an upgrade still runs the qemu that started it,
     * not the binary now installed.
     */
    private VmPlatform runningPlatform() {
        JsonNode version = qmp.execute("query-version").path("qemu");
        String arch = qmp.execute("query-target").path("arch").asText();
        return QemuCommandLine.platform(version.path("major").asInt() + "." + version.path("minor").asInt() + "."
                + version.path("micro").asInt(), arch, Accelerator.fromQemuName(accelerator));
    }

    /** Waits until qemu's {@code exec:} child for {@code partial} is gone (or a zombie, which has written all). */
    private void awaitWriterExit(Path partial, Duration timeout) throws InterruptedException {
        String name = partial.toString();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (process.children().anyMatch(child -> child.info().commandLine().orElse("").contains(name))) {
            if (System.nanoTime() > deadline) {
                throw new VmException("the process writing " + partial + " did not finish within "
                        + timeout.toSeconds() + " s after qemu sent it the last byte");
            }
            Thread.sleep(QemuMigration.POLL_INTERVAL_MS);
        }
    }

    /**
     * Undoes a failed save: stops a migration still running, deletes what was written, and lets the guest run again
     * if it ran before. Each step is best effort, and runs even when the save was interrupted (the interrupt is kept
     * for the caller); what a step could not do is recorded on {@code failure}.
     */
    private void abandon(Path partial, Path memoryFile, Path diskFile, Exception failure) {
        boolean interrupted = Thread.interrupted();
        if (migrating) {
            try {
                qmp.execute("migrate_cancel");
                long deadline = System.nanoTime() + CANCEL_TIMEOUT.toNanos();
                while (QemuMigration.isRunning(qmp.execute("query-migrate")) && System.nanoTime() < deadline) {
                    Thread.sleep(QemuMigration.POLL_INTERVAL_MS);
                }
                // A writer still starting up would create its file after the delete below.
                awaitWriterExit(partial, CANCEL_TIMEOUT);
            } catch (VmException e) {
                failure.addSuppressed(e);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (ignoringShared && process.isAlive()) {
            try {
                ignoreShared(false);
            } catch (VmException e) {
                failure.addSuppressed(e);
            }
        }
        if (frozenName != null) {
            try {
                ram.delete(frozenName);
            } catch (RuntimeException e) {
                failure.addSuppressed(e);
            }
        }
        for (Path file : List.of(partial, memoryFile, diskFile)) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                failure.addSuppressed(e);
            }
        }
        if (resumeAfterwards && process.isAlive()) {
            try {
                qmp.execute("cont");
            } catch (VmException e) {
                failure.addSuppressed(e);
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private String logTail() {
        try {
            List<String> lines = Files.readAllLines(files.qemuLog());
            String tail = String.join("\n", lines.subList(Math.max(0, lines.size() - LOG_TAIL_LINES), lines.size()));
            return tail.isBlank() ? "qemu logged nothing" : tail.strip();
        } catch (IOException e) {
            return "(qemu.log unreadable: " + e.getMessage() + ")";
        }
    }
}
