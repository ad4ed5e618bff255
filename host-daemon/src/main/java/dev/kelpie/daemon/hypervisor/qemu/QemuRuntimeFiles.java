package dev.kelpie.daemon.hypervisor.qemu;

import dev.kelpie.daemon.hypervisor.WritableDisk;
import java.nio.file.Path;

/**
 * The files of one VM in its runtime directory. Boot, restore, save and leftover cleanup all find them by these
 * names, so they are named once.
 */
record QemuRuntimeFiles(Path dir) {

    /** The sandbox's own disk: a sparse copy of the image's template, or a saved state's disk moved in. */
    Path writableDisk() {
        return WritableDisk.in(dir);
    }

    Path agentSocket() {
        return dir.resolve("agent.sock");
    }

    Path qmpSocket() {
        return dir.resolve("qmp.sock");
    }

    Path consoleLog() {
        return dir.resolve("console.log");
    }

    Path pidFile() {
        return dir.resolve("qemu.pid");
    }

    /** What qemu printed: while it set up the VM, and later anything it reports before it ends. */
    Path qemuLog() {
        return dir.resolve("qemu.log");
    }
}
