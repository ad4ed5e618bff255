package dev.kelpie.daemon.host;

import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import java.nio.file.Path;
import java.util.List;

/** Everything {@code Host.Info} tells: the daemon, the machine, and each backend's probe. */
public record HostReport(String daemonVersion, String os, String arch, int cpuCount, long memoryMib,
        List<BackendReport> backends, BackendChoice choice, Path stateDir) {}
