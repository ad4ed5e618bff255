package dev.kelpie.teleport.pkg;

/** The blobs each kind of package holds. */
public final class BlobNames {

    /** Checkpoint: a tar of /workspace (zstd). */
    public static final String WORKSPACE = "workspace.tar.zst";
    /** vm: the VMM's saved memory and device state (zstd). */
    public static final String VM_MEMORY = "vm-memory.zst";
    /** vm: the writable disk at the instant of the memory save (zstd; zero blocks come back as holes). */
    public static final String VM_DISK = "vm-disk.zst";

    private BlobNames() {}
}
