package dev.kelpie.daemon.hypervisor;

import java.nio.file.Path;

/**
 * What a daemon must remember to find a running VM again: its VMM process (pid and start time, so that a recycled
 * pid is never mistaken for the VM) and its sockets. Stored as {@code vm.json} in the VM's runtime directory.
 */
public record VmRecord(String hypervisor, String vmId, long pid, long processStartMillis, String accelerator, Path runtimeDir,
        Path agentSocket, Path controlSocket, Path consoleLog) {}
