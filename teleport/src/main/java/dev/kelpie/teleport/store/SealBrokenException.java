package dev.kelpie.teleport.store;

import java.io.IOException;

/**
 * A sealed object that does not open under the store's key: altered, truncated, or sealed under another key. The
 * bytes cannot be trusted, so nothing of it is used.
 */
public final class SealBrokenException extends IOException {

    public SealBrokenException(String message) {
        super(message);
    }

    public SealBrokenException(String message, Throwable cause) {
        super(message, cause);
    }
}
