package dev.kelpie.daemon.hypervisor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A VM's own writable disk, the same for every backend: a sparse copy of the image's template, grown by a hole to the
 * size the spec asks for. The guest agent grows the disk's file system online to fill it at boot.
 */
public final class WritableDisk {

    static final long MIB_BYTES = 1024L * 1024;
    /** Its name in the VM's runtime directory, the same for every backend. */
    public static final String FILE_NAME = "rw.ext4";

    private WritableDisk() {}

    /** The writable disk of the VM whose runtime directory is {@code runtimeDir}. */
    public static Path in(Path runtimeDir) {
        return runtimeDir.resolve(FILE_NAME);
    }

    public static void create(VmSpec spec, Path target) throws IOException, InterruptedException {
        SparseFiles.copy(spec.image().diskTemplate(), target);
        SparseFiles.growTo(target, spec.diskSizeMib() * MIB_BYTES);
    }
}
