package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.images.BootImage;
import dev.kelpie.daemon.images.IncompatibleImageException;

/** Where sandboxes get a bootable OCI root: pulled and built on first use, cached by manifest digest after. */
public interface OciBootSource {

    /** A daemon without OCI support (tests, simulations): every OCI sandbox is refused. */
    OciBootSource NONE = (reference, base) -> {
        throw new IncompatibleImageException("this daemon cannot boot OCI images (asked for " + reference + ")");
    };

    /**
     * The boot image for a sandbox from {@code reference} on the kernel of {@code base}: the image is pulled when no
     * cached image was pulled as that reference, its root built when not cached.
     *
     * @throws dev.kelpie.daemon.errors.KelpieException as a pull or a root build fails (DATA_LOSS for a layer whose
     *     bytes differ from its digest, FAILED_PRECONDITION for another platform, RESOURCE_EXHAUSTED for a root over
     *     the limit), with nothing left of the attempt
     */
    OciBoot prepare(String reference, BootImage base) throws InterruptedException;

    /**
     * Releases {@code boot} and removes its image from the cache (with its root) unless another lease or one of
     * {@code users} (the sandboxes that booted it) holds it.
     */
    default void discard(OciBoot boot, java.util.function.Supplier<java.util.List<String>> users) {
        boot.release();
    }

    /**
     * Gives {@code boot} up after the Create or restore it was for failed: an image this boot pulled goes from the
     * cache again ({@link #discard}), so that the failure adds nothing to it; one it found cached is only released.
     */
    default void abandon(OciBoot boot, java.util.function.Supplier<java.util.List<String>> users) {
        if (boot.pulled()) {
            discard(boot, users);
        } else {
            boot.release();
        }
    }
}
