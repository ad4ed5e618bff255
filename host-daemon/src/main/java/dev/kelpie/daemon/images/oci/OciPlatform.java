package dev.kelpie.daemon.images.oci;

/**
 * An OCI platform as image indexes name them.
 *
 * @param variant empty when the platform has none (amd64) or the entry does not say
 */
public record OciPlatform(String os, String architecture, String variant) {

    /** The platform a VM of {@code kelpieArch} ({@code x86_64} or {@code aarch64}) runs. */
    public static OciPlatform forArch(String kelpieArch) {
        return switch (kelpieArch) {
            case "x86_64" -> new OciPlatform("linux", "amd64", "");
            case "aarch64" -> new OciPlatform("linux", "arm64", "v8");
            default -> throw new IllegalArgumentException("no OCI platform for arch " + kelpieArch);
        };
    }

    /** Whether an image of {@code image} runs here: same OS and architecture, and the variant where both say one. */
    public boolean runs(OciPlatform image) {
        return os.equals(image.os) && architecture.equals(image.architecture)
                && (variant.isEmpty() || image.variant.isEmpty() || variant.equals(image.variant));
    }

    @Override
    public String toString() {
        return os + "/" + architecture + (variant.isEmpty() ? "" : "/" + variant);
    }
}
