package dev.kelpie.daemon.sim;

import dev.kelpie.teleport.store.PackageStore;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** The real local package store, with a store's failures in front of it: timeouts, damaged reads, crashes around a publish. */
final class FaultyPackageStore implements PackageStore {

    private final PackageStore store;
    private final Faults faults;
    private final Faults.Life life;

    FaultyPackageStore(PackageStore store, Faults faults, Faults.Life life) {
        this.store = store;
        this.faults = faults;
        this.life = life;
    }

    @Override
    public String name() {
        return store.name();
    }

    @Override
    public String location() {
        return store.location();
    }

    @Override
    public void publish(String id, Path packageDir) throws IOException {
        if (faults.at(life, "store.publish") == Faults.Kind.FAIL) {
            throw new IOException("simulated: store " + name() + " timed out");
        }
        store.publish(id, packageDir);
        faults.at(life, "store.published");
    }

    @Override
    public List<String> list() throws IOException {
        return store.list();
    }

    @Override
    public Optional<byte[]> readManifest(String id, int maxBytes) throws IOException {
        if (faults.at(life, "store.manifest") == Faults.Kind.FAIL) {
            throw new IOException("simulated: store " + name() + " timed out");
        }
        return store.readManifest(id, maxBytes);
    }

    @Override
    public InputStream openBlob(String id, String blobName) throws IOException {
        Faults.Kind fault = faults.at(life, "store.blob:" + blobName);
        if (fault == Faults.Kind.FAIL) {
            throw new IOException("simulated: store " + name() + " timed out");
        }
        return DamagedBytes.apply(fault, store.openBlob(id, blobName));
    }

    @Override
    public boolean delete(String id) throws IOException {
        return store.delete(id);
    }
}
