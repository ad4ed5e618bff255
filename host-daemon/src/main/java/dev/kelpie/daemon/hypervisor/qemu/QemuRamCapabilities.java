package dev.kelpie.daemon.hypervisor.qemu;

import dev.kelpie.daemon.hypervisor.probe.CommandRunner;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Whether a qemu-system binary can map a RAM file read-only and private ({@link QemuRamMapping#PRIVATE_READ_ONLY_FILE}),
 * asked once per binary from the properties its {@code memory-backend-file} lists: the {@code rom} property came
 * (QEMU 8.2) with the change that makes {@code readonly=on,rom=off} a writable private mapping of a file opened
 * read-only; before it {@code readonly=on} made the guest's RAM a ROM. Asked of the binary rather than read off its
 * version, so that a backport or a build without it is seen as what it is. A binary that cannot answer has no such
 * mapping: its clones fall back to copies of their own, slower but right.
 */
final class QemuRamCapabilities {

    static final Duration PROBE_TIMEOUT = Duration.ofSeconds(10);
    private static final Pattern ROM_PROPERTY = Pattern.compile("(?m)^\\s*rom=");
    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(QemuRamCapabilities.class);

    private final CommandRunner commands;
    private final Map<String, Boolean> byBinary = new ConcurrentHashMap<>();

    QemuRamCapabilities(CommandRunner commands) {
        this.commands = commands;
    }

    /** True when {@code binary}'s clones can share a frozen RAM file page by page without being able to change it. */
    boolean privateReadOnlyFile(String binary) {
        return byBinary.computeIfAbsent(binary, this::ask);
    }

    private boolean ask(String binary) {
        try {
            CommandRunner.Result result = commands.run(List.of(binary, "-object", "memory-backend-file,help"),
                    PROBE_TIMEOUT);
            boolean has = result.exitCode() == 0 && ROM_PROPERTY.matcher(result.output()).find();
            LOG.infof("%s %s map a frozen RAM file read-only and private: fork copies %s", binary,
                    has ? "can" : "cannot", has ? "share its pages" : "each get a copy of it");
            return has;
        } catch (IOException e) {
            LOG.warnf("cannot ask %s for its memory-backend-file properties (%s): fork copies each get a copy of the"
                    + " frozen RAM", binary, e.getMessage());
            return false;
        }
    }
}
