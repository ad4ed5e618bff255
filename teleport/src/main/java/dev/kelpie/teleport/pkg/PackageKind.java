package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** What a package holds, which decides where it may be restored. */
public enum PackageKind {
    /** Workspace, env and sandbox settings: restorable on any arch and backend, on an image of the same MAJOR.MINOR. */
    CHECKPOINT,
    /** Full VM state: restorable only on the very same image, arch, hypervisor build, machine type and CPU model. */
    VM;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** @throws IllegalArgumentException for anything but {@code checkpoint} and {@code vm} */
    public static PackageKind fromWireName(String name) {
        for (PackageKind kind : values()) {
            if (kind.wireName().equals(name)) {
                return kind;
            }
        }
        throw new IllegalArgumentException("package kind \"" + name + "\" is not checkpoint or vm");
    }
}
