package dev.kelpie.daemon.images.pull;

/**
 * Where a pull is.
 *
 * @param phase "resolving", "downloading", "verifying" or "installing"
 * @param totalBytes 0 while unknown
 */
public record PullProgress(String phase, String file, long receivedBytes, long totalBytes, long rateBytesPerSecond) {

    static PullProgress phase(String phase, String file) {
        return new PullProgress(phase, file, 0, 0, 0);
    }
}
