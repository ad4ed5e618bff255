package dev.kelpie.daemon.images.oci;

/** OCI architecture names against Kelpie's ({@code x86_64}, {@code aarch64}). */
public final class OciArch {

    private OciArch() {}

    /** Kelpie's name for an OCI architecture, or the OCI name itself for one Kelpie does not run. */
    public static String kelpieArch(String ociArchitecture) {
        return switch (ociArchitecture) {
            case "amd64" -> "x86_64";
            case "arm64" -> "aarch64";
            default -> ociArchitecture;
        };
    }
}
