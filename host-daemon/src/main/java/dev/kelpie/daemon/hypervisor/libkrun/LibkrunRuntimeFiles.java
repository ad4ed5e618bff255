package dev.kelpie.daemon.hypervisor.libkrun;

import dev.kelpie.daemon.hypervisor.WritableDisk;
import java.nio.file.Path;

/** The files of one libkrun VM in its runtime directory, named once for boot, adoption and leftover cleanup. */
record LibkrunRuntimeFiles(Path dir) {

    /** The sandbox's own disk: a sparse copy of the image's template. */
    Path writableDisk() {
        return WritableDisk.in(dir);
    }

    /** Created by libkrun once the guest's vsock device is up; must not exist before (libkrun answers EEXIST). */
    Path agentSocket() {
        return dir.resolve("agent.sock");
    }

    /** The socket libkrun serves for a published port's listen-mode vsock port; like the agent's, it must not exist. */
    Path forwardSocket(int vsockPort) {
        return dir.resolve("fwd-" + vsockPort + ".sock");
    }

    Path consoleLog() {
        return dir.resolve("console.log");
    }

    /** What the daemon tells the runner; its path on the runner's command line identifies the runner. */
    Path runnerConfig() {
        return dir.resolve("runner.json");
    }

    /** The runner's pid, written as soon as it started, so that a later daemon finds a runner it has no record of. */
    Path pidFile() {
        return dir.resolve("runner.pid");
    }

    /** The runner's stdout and stderr: libkrun's log, the runner's notes and its one-line error. */
    Path runnerLog() {
        return dir.resolve("runner.log");
    }
}
