package dev.kelpie.teleport.store;

import java.io.IOException;

/** A stored object is larger than the reader allows (a manifest claiming megabytes is not read into memory). */
public final class PackageTooLargeException extends IOException {

    public PackageTooLargeException(String message) {
        super(message);
    }
}
