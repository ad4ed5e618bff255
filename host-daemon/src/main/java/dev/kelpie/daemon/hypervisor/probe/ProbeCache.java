package dev.kelpie.daemon.hypervisor.probe;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import org.jboss.logging.Logger;

/**
 * Remembers boot-probe outcomes across daemon restarts and across the daemons of one host (the file lives in a
 * host-wide cache directory, not a daemon's state), keyed by everything that could change the answer: the host's boot
 * (a reboot may load or fix KVM), the qemu binary and its version, the kernel's content and the accelerator. So a
 * probe that takes 20 s to time out runs once per boot. Verdicts of earlier boots are dropped when the file is read.
 */
public final class ProbeCache {

    private static final Logger LOG = Logger.getLogger(ProbeCache.class);
    static final String FILE_NAME = "accelerator-probes.json";

    /** One remembered outcome, as stored. */
    record Entry(ProbeStatus status, String reason, long durationMs) {}

    private final Path file;
    private final ObjectMapper json;
    private final String bootId;
    private final Map<String, Entry> entries;

    /**
     * @param cacheDir created if missing
     * @param bootId what identifies this boot of the host ({@link HostBootId})
     */
    public ProbeCache(Path cacheDir, ObjectMapper json, String bootId) {
        this.file = cacheDir.resolve(FILE_NAME);
        this.json = json;
        this.bootId = bootId;
        this.entries = load();
    }

    /**
     * The probe's own command line, as a version: a verdict reached with another command line (before the x86 TCG probe
     * booted a microvm without ACPI) says nothing about this one.
     */
    static final String PROBE_COMMAND_VERSION = "3";

    /** The cache key for one probe on this boot of the host. */
    public String key(String qemuPath, String qemuVersion, Path kernel, Accelerator accelerator) throws IOException {
        return String.join("|", bootId, qemuPath, qemuVersion, sha256(kernel), accelerator.qemuName(),
                PROBE_COMMAND_VERSION);
    }

    public synchronized java.util.Optional<ProbeResult> get(String key) {
        Entry e = entries.get(key);
        return e == null ? java.util.Optional.empty()
                : java.util.Optional.of(new ProbeResult(e.status(), e.reason() + " (cached)", Duration.ofMillis(e.durationMs())));
    }

    public synchronized void put(String key, ProbeResult result) {
        if (result.status() == ProbeStatus.UNTESTED) {
            return;
        }
        entries.put(key, new Entry(result.status(), result.reason(), result.duration().toMillis()));
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), FILE_NAME, ".tmp");
            try {
                json.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), entries);
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            LOG.warnf("could not save accelerator probe results to %s: %s", file, e.getMessage());
        }
    }

    private Map<String, Entry> load() {
        if (!Files.exists(file)) {
            return new TreeMap<>();
        }
        try {
            Map<String, Entry> thisBoot = new TreeMap<>(json.readValue(file.toFile(),
                    new TypeReference<Map<String, Entry>>() {}));
            thisBoot.keySet().removeIf(key -> !key.startsWith(bootId + "|"));
            return thisBoot;
        } catch (IOException e) {
            LOG.warnf("ignoring unreadable accelerator probe cache %s: %s", file, e.getMessage());
            return new TreeMap<>();
        }
    }

    private static String sha256(Path file) throws IOException {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
