package dev.kelpie.daemon.images;

/** A removal of an image that sandboxes or pooled VMs still boot from. */
public final class ImageInUseException extends RuntimeException {
    public ImageInUseException(String message) {
        super(message);
    }
}
