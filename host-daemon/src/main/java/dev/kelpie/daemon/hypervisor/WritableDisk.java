package dev.kelpie.daemon.hypervisor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A VM's own writable disk, the same for every backend: a sparse copy of the image's template, grown by a hole to the
 * size the spec asks for. The guest agent grows the disk's file system online to fill it at boot.
 */
public final class WritableDisk {

    static final long MIB_BYTES = 1024L * 1024;

    private WritableDisk() {}

    public static void create(VmSpec spec, Path target) throws IOException, InterruptedException {
        SparseFiles.copy(spec.image().diskTemplate(), target);
        SparseFiles.growTo(target, spec.diskSizeMib() * MIB_BYTES);
    }
}
