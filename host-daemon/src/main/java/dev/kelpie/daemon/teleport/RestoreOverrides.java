package dev.kelpie.daemon.teleport;

import java.util.Map;

/**
 * What a restore changes from the package's sandbox settings; zero or empty keeps the package's value. A {@code vm}
 * package's shape (vCPUs, memory) is part of its saved state and cannot change.
 */
public record RestoreOverrides(Map<String, String> labels, long ttlMs, long idleTimeoutMs, int vcpuCount, int memoryMib) {

    public static final RestoreOverrides NONE = new RestoreOverrides(Map.of(), 0, 0, 0, 0);

    public RestoreOverrides {
        labels = Map.copyOf(labels);
    }
}
