package dev.kelpie.daemon.sim;

import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.daemon.sandboxes.SandboxStore;
import java.nio.file.Path;
import java.util.List;

/** The real record store, with crash points before and after each write. */
final class FaultySandboxStore implements SandboxStore {

    private final SandboxStore store;
    private final Faults faults;
    private final Faults.Life life;

    FaultySandboxStore(SandboxStore store, Faults faults, Faults.Life life) {
        this.store = store;
        this.faults = faults;
        this.life = life;
    }

    @Override
    public void save(SandboxRecord record) {
        faults.at(life, "record.save");
        faults.mayHoldUninterruptibly("record.save");
        store.save(record);
        faults.at(life, "record.saved");
    }

    @Override
    public void delete(String id) {
        faults.at(life, "record.delete");
        store.delete(id);
    }

    @Override
    public List<SandboxRecord> loadAll() {
        return store.loadAll();
    }

    @Override
    public Path runtimeDir(String vmId) {
        return store.runtimeDir(vmId);
    }

    @Override
    public List<String> runtimeDirIds() {
        return store.runtimeDirIds();
    }

    @Override
    public void deleteRuntimeDir(String vmId) {
        faults.at(life, "runtime.delete");
        store.deleteRuntimeDir(vmId);
    }
}
