package dev.kelpie.daemon.sandboxes;

/** A warm pool as reported by Host.Info and metrics. */
public record WarmPoolStatus(String imageVersion, String arch, int vcpuCount, int memoryMib, int targetSize, int ready,
        int booting, long takenTotal, long failedBootsTotal, String lastError) {}
