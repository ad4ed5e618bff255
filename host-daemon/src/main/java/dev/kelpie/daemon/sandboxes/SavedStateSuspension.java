package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.SparseFiles;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.teleport.store.FileTrees;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * Suspends with the VMM's full save ({@link VmHandle#saveState}, the path of {@code vm} snapshots) into the sandbox's
 * runtime directory, and resumes with {@link Hypervisor#restore}: the guest's memory is read back whole before it
 * runs. The state is written to {@code suspended.partial/} and renamed to {@code suspended/} once complete, so a
 * crash never leaves a half state that looks whole; a resume works on a copy of the saved disk, so the state stays
 * valid until the resumed sandbox is recorded READY and discards it.
 */
final class SavedStateSuspension implements VmSuspension {

    static final String STATE_DIR = "suspended";
    private static final String PARTIAL_DIR = "suspended.partial";
    private static final String MEMORY_FILE = "memory";
    private static final String DISK_FILE = "disk";
    /** The copy of the saved disk a resume hands to the VMM, which moves it into place. */
    private static final String RESUME_DISK_FILE = "resume-disk";

    private record SavedFiles(Path memory, Path disk) implements LocalState {}

    private final Hypervisor hypervisor;
    private final SandboxStore store;
    private final VmLauncher launcher;

    SavedStateSuspension(Hypervisor hypervisor, SandboxStore store, VmLauncher launcher) {
        this.hypervisor = hypervisor;
        this.store = store;
        this.launcher = launcher;
    }

    @Override
    public LocalState suspend(String id, VmHandle vm) throws InterruptedException {
        Path partial = store.runtimeDir(id).resolve(PARTIAL_DIR);
        Path complete = store.runtimeDir(id).resolve(STATE_DIR);
        try {
            FileTrees.deleteUnchecked(partial);
            FileTrees.deleteUnchecked(complete);
            Files.createDirectories(partial);
            vm.saveState(partial.resolve(MEMORY_FILE), partial.resolve(DISK_FILE));
            Files.move(partial, complete, StandardCopyOption.ATOMIC_MOVE);
            // The saved state holds the memory now; the VM's RAM file (tmpfs) goes with the VM, which ends next.
            hypervisor.releaseMemory(id);
            return new SavedFiles(complete.resolve(MEMORY_FILE), complete.resolve(DISK_FILE));
        } catch (IOException e) {
            FileTrees.deleteUnchecked(partial);
            throw new UncheckedIOException("writing the suspended state of sandbox " + id + " failed: " + e.getMessage(), e);
        } catch (RuntimeException | InterruptedException e) {
            FileTrees.deleteUnchecked(partial);
            throw e;
        }
    }

    @Override
    public Optional<LocalState> find(String id) {
        Path complete = store.runtimeDir(id).resolve(STATE_DIR);
        Path memory = complete.resolve(MEMORY_FILE);
        Path disk = complete.resolve(DISK_FILE);
        return Files.isRegularFile(memory) && Files.isRegularFile(disk) ? Optional.of(new SavedFiles(memory, disk))
                : Optional.empty();
    }

    @Override
    public PooledVm resume(String id, SandboxRecord record, BootImage image, LocalState state)
            throws InterruptedException {
        SavedFiles files = (SavedFiles) state;
        Path resumeDisk = store.runtimeDir(id).resolve(RESUME_DISK_FILE);
        try {
            SparseFiles.copy(files.disk(), resumeDisk);
        } catch (IOException e) {
            throw new UncheckedIOException("copying the suspended disk of sandbox " + id + " failed: " + e.getMessage(), e);
        }
        SandboxConfig c = record.config();
        return launcher.boot(id, image, c.vcpuCount(), c.memoryMib(), c.diskSizeMib(), c.network(),
                Optional.of(new SavedVmState(files.memory(), resumeDisk, hypervisor.platform(image.arch()))));
    }

    @Override
    public void discard(String id) {
        FileTrees.deleteUnchecked(store.runtimeDir(id).resolve(STATE_DIR));
        FileTrees.deleteUnchecked(store.runtimeDir(id).resolve(PARTIAL_DIR));
    }
}
