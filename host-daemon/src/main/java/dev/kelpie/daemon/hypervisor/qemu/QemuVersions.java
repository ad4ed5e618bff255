package dev.kelpie.daemon.hypervisor.qemu;

import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.probe.CommandRunner;
import dev.kelpie.daemon.hypervisor.probe.QemuProbe;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The version of each qemu-system binary, asked once per binary: every saved-state check needs it, and running
 * {@code --version} costs tens of ms. A binary replaced while the daemon runs is seen after a restart.
 */
final class QemuVersions {

    static final Duration VERSION_TIMEOUT = Duration.ofSeconds(10);

    private final CommandRunner commands;
    private final Map<String, String> byBinary = new ConcurrentHashMap<>();

    QemuVersions(CommandRunner commands) {
        this.commands = commands;
    }

    /**
     * e.g. {@code 7.2.22}, as {@code query-version} of a running qemu spells it too.
     *
     * @throws VmException when the binary cannot be run or fails (nothing is cached then)
     */
    String of(String binary) {
        return byBinary.computeIfAbsent(binary, this::ask);
    }

    private String ask(String binary) {
        CommandRunner.Result result;
        try {
            result = commands.run(List.of(binary, "--version"), VERSION_TIMEOUT);
        } catch (IOException e) {
            throw new VmException("cannot run " + binary + " --version: " + e.getMessage(), e);
        }
        if (result.exitCode() != 0) {
            throw new VmException(binary + " --version exited with status " + result.exitCode() + ": "
                    + result.output().strip());
        }
        return QemuProbe.parseVersion(result.output());
    }
}
