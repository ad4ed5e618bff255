package dev.kelpie.daemon.hypervisor;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * A VM's full state as files: guest memory and device state in the VMM's own format, and the writable disk as it was
 * at the same instant (the read-only root is the image's and is not copied).
 *
 * @param sharedRam a local snapshot's frozen guest RAM (see {@link VmHandle#saveLocalState}): when present,
 *     {@code memoryFile} holds the device state only, and a VM restored from it maps this file copy-on-write instead
 *     of reading its memory from a stream
 * @param memoryKey what names the content of a full state's memory (a package blob's sha256), or empty: a backend
 *     that maps RAM from files freezes such a state the first time and maps it for every later restore of the same
 *     key (see {@link Hypervisor#frozenMemory})
 */
public record SavedVmState(Path memoryFile, Path diskFile, VmPlatform platform, Optional<Path> sharedRam,
        String memoryKey) {

    public SavedVmState {
        Objects.requireNonNull(memoryFile, "memoryFile");
        Objects.requireNonNull(diskFile, "diskFile");
        Objects.requireNonNull(platform, "platform");
        Objects.requireNonNull(sharedRam, "sharedRam");
        Objects.requireNonNull(memoryKey, "memoryKey");
    }

    /** A state whose memory is all in {@code memoryFile}, as a package carries it. */
    public SavedVmState(Path memoryFile, Path diskFile, VmPlatform platform) {
        this(memoryFile, diskFile, platform, Optional.empty(), "");
    }

    public SavedVmState(Path memoryFile, Path diskFile, VmPlatform platform, Optional<Path> sharedRam) {
        this(memoryFile, diskFile, platform, sharedRam, "");
    }

    /** The same state with another writable disk: each clone of a local snapshot gets its own copy. */
    public SavedVmState withDisk(Path disk) {
        return new SavedVmState(memoryFile, disk, platform, sharedRam, memoryKey);
    }

    /** The same full state, its memory named by {@code key}. */
    public SavedVmState withMemoryKey(String key) {
        return new SavedVmState(memoryFile, diskFile, platform, sharedRam, key);
    }
}
