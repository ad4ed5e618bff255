package dev.kelpie.daemon.images.pull;

/** The names of a release's files, as image-build and the release workflow publish them. */
public final class ReleaseFiles {

    public static final String CHECKSUMS = "SHA256SUMS";
    public static final String SIGNATURE = "SHA256SUMS.minisig";

    private ReleaseFiles() {}

    public static String archive(String version, String arch) {
        return "kelpie-image-" + version + "-" + arch + ".tar.zst";
    }
}
