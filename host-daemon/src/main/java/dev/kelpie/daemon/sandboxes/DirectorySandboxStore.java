package dev.kelpie.daemon.sandboxes;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.jboss.logging.Logger;

/**
 * Records as {@code STATE/sandboxes/ID.json}, VM runtime directories as {@code STATE/vms/ID/}. A record that cannot
 * be read is moved aside as {@code ID.json.corrupt} rather than failing the daemon's start.
 */
public final class DirectorySandboxStore implements SandboxStore {

    private static final Logger LOG = Logger.getLogger(DirectorySandboxStore.class);

    private final Path records;
    private final Path vms;
    private final ObjectMapper json;

    public DirectorySandboxStore(Path stateDir, ObjectMapper json) {
        this.records = stateDir.resolve("sandboxes");
        this.vms = stateDir.resolve("vms");
        this.json = json;
    }

    /**
     * Created on first use, not in the constructor: the daemon builds its parts before the preflight has locked and
     * checked the state directory, whose error message is the one a user must see.
     */
    private Path ensure(Path dir) {
        try {
            return Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir, e);
        }
    }

    @Override
    public void save(SandboxRecord record) {
        Path target = ensure(records).resolve(record.id() + ".json");
        Path temp = records.resolve("." + record.id() + ".json.tmp");
        try {
            json.writeValue(temp.toFile(), record);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save sandbox record " + target, e);
        }
    }

    @Override
    public void delete(String id) {
        try {
            Files.deleteIfExists(records.resolve(id + ".json"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete sandbox record " + id, e);
        }
    }

    @Override
    public List<SandboxRecord> loadAll() {
        List<SandboxRecord> all = new ArrayList<>();
        try (Stream<Path> files = Files.list(ensure(records))) {
            for (Path file : files.filter(f -> f.getFileName().toString().endsWith(".json")).sorted().toList()) {
                try {
                    all.add(json.readValue(file.toFile(), SandboxRecord.class));
                } catch (IOException e) {
                    LOG.errorf("unreadable sandbox record %s (%s); moved aside", file, e.getMessage());
                    Files.move(file, file.resolveSibling(file.getFileName() + ".corrupt"), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + records, e);
        }
        all.sort(Comparator.comparingLong(SandboxRecord::createdAtMs));
        return all;
    }

    @Override
    public Path runtimeDir(String vmId) {
        return vms.resolve(vmId);
    }

    @Override
    public List<String> runtimeDirIds() {
        try (Stream<Path> dirs = Files.list(ensure(vms))) {
            return dirs.filter(Files::isDirectory).map(d -> d.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + vms, e);
        }
    }

    @Override
    public void deleteRuntimeDir(String vmId) {
        Path dir = runtimeDir(vmId);
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir, e);
        }
    }
}
