package dev.kelpie.daemon.images;

/** Image bytes that are not what was signed or recorded (a flipped bit, a truncated file); never booted. */
public final class DamagedImageException extends RuntimeException {
    public DamagedImageException(String message) {
        super(message);
    }
}
