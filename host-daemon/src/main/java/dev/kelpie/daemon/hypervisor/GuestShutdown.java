package dev.kelpie.daemon.hypervisor;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Asks a guest to power itself off through its agent. A backend without a VMM-level stop (libkrun has none) uses it
 * before falling back to signals.
 */
@FunctionalInterface
public interface GuestShutdown {

    /**
     * Returns once the agent accepted the request (the guest powers off afterwards).
     *
     * @throws VmException when the agent could not be asked within {@code within}
     */
    void request(Path agentSocket, Duration within) throws InterruptedException;
}
