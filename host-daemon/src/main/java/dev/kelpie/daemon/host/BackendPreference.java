package dev.kelpie.daemon.host;

import java.util.Locale;

/** What {@code kelpie.backend} ({@code kelpied --backend=NAME}) asks for. */
public enum BackendPreference {
    /** libkrun when its probe passes, else QEMU with the best accelerator that booted a kernel. */
    AUTO,
    /** libkrun whatever its probe says: its failures then surface, with their reasons, when a sandbox boots. */
    LIBKRUN,
    /** QEMU even where libkrun works. */
    QEMU;

    /**
     * @throws IllegalArgumentException naming the accepted values
     */
    public static BackendPreference parse(String value) {
        try {
            return valueOf(value.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("kelpie.backend (--backend) must be auto, libkrun or qemu, not '" + value + "'");
        }
    }

    public String configValue() {
        return name().toLowerCase(Locale.ROOT);
    }
}
