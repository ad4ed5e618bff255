package dev.kelpie.daemon.agent;

/** The agent could not be reached: the VM is down, still booting, or its channel is broken. */
public final class AgentUnavailableException extends RuntimeException {
    public AgentUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
