package dev.kelpie.daemon.api;

import java.io.InterruptedIOException;
import java.time.Duration;

/** An upload's client went quiet while the daemon waited for its next message; what it had sent is discarded. */
final class ClientIdleException extends InterruptedIOException {

    ClientIdleException(String call, Duration idle) {
        super("no message from the client for " + idle.toMillis() + " ms during " + call
                + " (kelpie.api.upload-idle-timeout); the upload was discarded");
    }
}
