package dev.kelpie.daemon.agent;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.daemon.errors.KelpieException;

/** The agent could not be reached: the VM is down, still booting, or its channel is broken. */
public final class AgentUnavailableException extends KelpieException {
    public AgentUnavailableException(String message, Throwable cause) {
        super(ErrorKind.UNREACHABLE, message, cause);
    }
}
