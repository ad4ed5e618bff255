package dev.kelpie.daemon.hypervisor.qemu;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.hypervisor.VmLogs;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmProcess;
import dev.kelpie.daemon.hypervisor.VmRecord;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** A VM in a daemonized qemu process, controlled over QMP and watched through its process handle. */
final class QemuVm implements VmHandle {

    private final VmRecord record;
    private final ProcessHandle process;
    private final VmProcess vmm;
    private final QmpClient qmp;
    private final String accelerator;
    private final QemuRamFiles ram;

    /** @param ram where its RAM file is, or null when it runs on anonymous memory */
    QemuVm(VmRecord record, ProcessHandle process, ObjectMapper json, String accelerator, QemuRamFiles ram) {
        this.record = record;
        this.process = process;
        this.vmm = new VmProcess(record, process);
        this.qmp = new QmpClient(record.controlSocket(), json);
        this.accelerator = accelerator;
        this.ram = ram;
    }

    @Override
    public VmRecord record() {
        return record;
    }

    @Override
    public boolean isAlive() {
        return vmm.isAlive();
    }

    @Override
    public CompletableFuture<Void> exited() {
        return vmm.exited();
    }

    @Override
    public void pause() {
        qmp.execute("stop");
    }

    @Override
    public void resume() {
        qmp.execute("cont");
    }

    @Override
    public SavedVmState saveState(Path memoryFile, Path diskFile) throws InterruptedException {
        return new QemuStateSave(qmp, process, new QemuRuntimeFiles(record.runtimeDir()),
                accelerator, describe(), ram, record.vmId()).run(memoryFile, diskFile);
    }

    @Override
    public SavedVmState saveLocalState(Path workDir) throws InterruptedException {
        return new QemuStateSave(qmp, process, new QemuRuntimeFiles(record.runtimeDir()),
                accelerator, describe(), ram, record.vmId()).runLocal(workDir);
    }

    @Override
    public void stop(Duration grace) throws InterruptedException {
        if (!vmm.isAlive()) {
            return;
        }
        try {
            qmp.execute("quit");
        } catch (VmException e) {
            // A wedged or already dying qemu: the kill below ends it either way.
        }
        if (!vmm.awaitExit(grace)) {
            vmm.killAndAwait("qemu");
        }
    }

    @Override
    public void kill() {
        vmm.kill();
    }

    @Override
    public String consoleTail(int lines) {
        return VmLogs.tail(record.consoleLog(), lines);
    }

    @Override
    public String describe() {
        return "qemu pid " + record.pid() + " (" + accelerator + ")";
    }
}
