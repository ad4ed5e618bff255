package dev.kelpie.daemon.hypervisor.qemu;

/** How a VM maps its RAM file, and so what its guest's writes and discards (balloon free-page reporting) reach. */
public enum QemuRamMapping {

    /** {@code share=on}: the VM owns the file; writes go into it, discards punch holes in it. */
    OWNED(",share=on"),

    /**
     * A clone's private copy-on-write view of a frozen snapshot it shares with its siblings: qemu opens the file
     * read-only ({@code readonly=on}) yet maps it writable and private ({@code share=off,rom=off}, QEMU ≥ 8.2), so
     * the guest's writes become its own anonymous pages and a discard can only drop those: a read-only descriptor
     * cannot punch holes in the shared file, which QEMU 7.2 did for a private mapping of a writable one.
     */
    PRIVATE_READ_ONLY_FILE(",share=off,readonly=on,rom=off");

    private final String backendOptions;

    QemuRamMapping(String backendOptions) {
        this.backendOptions = backendOptions;
    }

    /** The options appended to {@code -object memory-backend-file,...}. */
    String backendOptions() {
        return backendOptions;
    }
}
