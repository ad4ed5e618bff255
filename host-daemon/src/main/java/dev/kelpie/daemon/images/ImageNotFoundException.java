package dev.kelpie.daemon.images;

/** No image of the asked version and arch is available; the message names what is. */
public final class ImageNotFoundException extends RuntimeException {
    public ImageNotFoundException(String message) {
        super(message);
    }
}
