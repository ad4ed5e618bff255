package dev.kelpie.daemon.hypervisor.probe;

/** Outcome of checking whether a backend or accelerator works on this host. */
public enum ProbeStatus {
    /** Checked, and it works. */
    AVAILABLE,
    /** Checked, and it does not work. */
    UNAVAILABLE,
    /** Present, but not proven to work (no kernel to boot yet, or the probe still runs). */
    UNTESTED
}
