package dev.kelpie.daemon.hypervisor.probe;

import java.util.Locale;

/** The host's operating system and architecture, in the names Kelpie uses everywhere ("linux"/"macos", "x86_64"/"aarch64"). */
public record HostPlatform(String os, String arch) {

    public static HostPlatform current() {
        return of(System.getProperty("os.name"), System.getProperty("os.arch"));
    }

    static HostPlatform of(String osName, String osArch) {
        String os = osName.toLowerCase(Locale.ROOT);
        String normalizedOs = os.startsWith("mac") || os.startsWith("darwin") ? "macos" : os.startsWith("linux") ? "linux" : os;
        String normalizedArch = switch (osArch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64", "x64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> osArch;
        };
        return new HostPlatform(normalizedOs, normalizedArch);
    }

    public boolean isMacOs() {
        return os.equals("macos");
    }

    public boolean isLinux() {
        return os.equals("linux");
    }
}
