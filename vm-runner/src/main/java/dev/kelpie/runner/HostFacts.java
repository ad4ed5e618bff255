package dev.kelpie.runner;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** What about the host explains a failed VM start: its OS, and on Linux whether the KVM device is usable. */
public record HostFacts(boolean macOs, boolean kvmAccessible) {

    public static HostFacts of(Path kvmDevice) {
        boolean macOs = System.getProperty("os.name").toLowerCase(Locale.ROOT).startsWith("mac");
        return new HostFacts(macOs, !macOs && Files.isReadable(kvmDevice) && Files.isWritable(kvmDevice));
    }
}
