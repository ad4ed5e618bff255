package dev.kelpie.teleport.store;

import java.io.IOException;

/** A publish named an id that the store already holds; packages are immutable once published. */
public final class PackageExistsException extends IOException {

    public PackageExistsException(String message) {
        super(message);
    }
}
