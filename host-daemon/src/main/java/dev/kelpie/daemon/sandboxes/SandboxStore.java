package dev.kelpie.daemon.sandboxes;

import java.nio.file.Path;
import java.util.List;

/** Durable sandbox records, so that a restarted daemon finds its VMs again. */
public interface SandboxStore {

    /** Replaces the record atomically: a crash leaves the old or the new one, never a torn file. */
    void save(SandboxRecord record);

    void delete(String id);

    List<SandboxRecord> loadAll();

    /** The directory for a VM's sockets, logs and disk; short, since Unix socket paths are limited to 103 bytes. */
    Path runtimeDir(String vmId);

    /** Runtime directories present on disk (including ones whose record never got written). */
    List<String> runtimeDirIds();

    /** Removes a VM's runtime directory and everything in it. */
    void deleteRuntimeDir(String vmId);
}
