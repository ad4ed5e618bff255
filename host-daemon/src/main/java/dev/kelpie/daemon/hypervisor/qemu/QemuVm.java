package dev.kelpie.daemon.hypervisor.qemu;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.hypervisor.ConsoleTail;
import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmRecord;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** A VM in a daemonized qemu process, controlled over QMP and watched through its process handle. */
final class QemuVm implements VmHandle {

    private final VmRecord record;
    private final ProcessHandle process;
    private final QmpClient qmp;
    private final String accelerator;
    private final CompletableFuture<Void> exited;

    QemuVm(VmRecord record, ProcessHandle process, ObjectMapper json, String accelerator) {
        this.record = record;
        this.process = process;
        this.qmp = new QmpClient(record.controlSocket(), json);
        this.accelerator = accelerator;
        // qemu is not our child (it daemonized): the JDK watches it by pid, which is safe since we hold its handle.
        this.exited = process.onExit().thenApply(p -> null);
    }

    @Override
    public VmRecord record() {
        return record;
    }

    @Override
    public boolean isAlive() {
        return process.isAlive();
    }

    @Override
    public CompletableFuture<Void> exited() {
        return exited;
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
                accelerator, describe()).run(memoryFile, diskFile);
    }

    @Override
    public void stop(Duration grace) throws InterruptedException {
        if (!process.isAlive()) {
            return;
        }
        try {
            qmp.execute("quit");
        } catch (VmException e) {
            // A wedged or already dying qemu: the kill below ends it either way.
        }
        try {
            exited.get(grace.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            kill();
            awaitExit();
        }
    }

    @Override
    public void kill() {
        new ProcessIdentity(record.pid(), record.processStartMillis()).live().ifPresent(ProcessHandle::destroyForcibly);
    }

    private void awaitExit() throws InterruptedException {
        try {
            exited.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new VmException("qemu pid " + record.pid() + " did not end after SIGKILL");
        }
    }

    @Override
    public String consoleTail(int lines) {
        return ConsoleTail.read(record.consoleLog(), lines);
    }

    @Override
    public String describe() {
        return "qemu pid " + record.pid() + " (" + accelerator + ")";
    }
}
