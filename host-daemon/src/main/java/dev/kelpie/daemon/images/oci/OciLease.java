package dev.kelpie.daemon.images.oci;

/**
 * A hold on a cached OCI image (and so its root) while a sandbox is being made from it: from the moment a Create or
 * Restore resolves the image until the sandbox's record exists (which then holds the image itself), an
 * {@code Images.Remove} or prune of it is refused. Closing twice releases once.
 */
public final class OciLease implements AutoCloseable {

    private final OciImageStore store;
    private final String manifestSha256;
    private boolean released;

    OciLease(OciImageStore store, String manifestSha256) {
        this.store = store;
        this.manifestSha256 = manifestSha256;
    }

    public String manifestSha256() {
        return manifestSha256;
    }

    @Override
    public void close() {
        synchronized (store) {
            if (!released) {
                released = true;
                store.release(manifestSha256);
            }
        }
    }
}
