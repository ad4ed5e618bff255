package dev.kelpie.daemon.sandboxes;

/** No sandbox has this id. */
public final class SandboxNotFoundException extends RuntimeException {
    public SandboxNotFoundException(String id) {
        super("no sandbox " + id);
    }
}
