package dev.kelpie.daemon.hypervisor.probe;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.List;
import java.util.Optional;

/**
 * Checks whether libkrun can be loaded through the FFM API and has the entry points Kelpie needs. Loading happens
 * in a confined arena that is closed again: the daemon never keeps libkrun mapped, since VMs run in their own
 * runner processes.
 */
public final class LibkrunProbe {

    static final String BACKEND_NAME = "libkrun";
    /** Symbols without which no VM can be configured and started. */
    static final List<String> REQUIRED_SYMBOLS = List.of("krun_create_ctx", "krun_set_vm_config", "krun_set_kernel",
            "krun_start_enter");

    private final HostPlatform platform;

    public LibkrunProbe(HostPlatform platform) {
        this.platform = platform;
    }

    /**
     * @param configuredLibrary the configured library name or path, or empty for the platform's default name
     * @param hardware what is known about the accelerator libkrun would use (KVM or HVF); libkrun has no emulation
     */
    public BackendReport probe(Optional<String> configuredLibrary, Optional<AcceleratorReport> hardware) {
        String library = configuredLibrary.orElse(platform.isMacOs() ? "libkrun.1.dylib" : "libkrun.so.1");
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup lookup = SymbolLookup.libraryLookup(library, arena);
            List<String> missing = REQUIRED_SYMBOLS.stream().filter(s -> lookup.find(s).isEmpty()).toList();
            if (!missing.isEmpty()) {
                return report(library, ProbeResult.unavailable(library + " lacks " + String.join(", ", missing)
                        + " (libkrun 1.x is required)"), hardware);
            }
        } catch (IllegalArgumentException e) {
            return report(library, ProbeResult.unavailable(library + " cannot be loaded (install libkrun and libkrunfw,"
                    + " or set kelpie.libkrun.library): " + e.getMessage()), hardware);
        }
        if (hardware.isEmpty()) {
            return report(library, ProbeResult.unavailable("libkrun needs KVM or Hypervisor.framework; neither applies here"), hardware);
        }
        ProbeResult accel = hardware.get().result();
        ProbeResult result = switch (accel.status()) {
            case AVAILABLE -> ProbeResult.available("");
            case UNTESTED -> ProbeResult.untested("loadable, but " + hardware.get().accelerator().qemuName()
                    + " is untested: " + accel.reason());
            case UNAVAILABLE -> ProbeResult.unavailable("loadable, but " + hardware.get().accelerator().qemuName()
                    + " does not work: " + accel.reason());
        };
        return report(library, result, hardware);
    }

    private static BackendReport report(String library, ProbeResult result, Optional<AcceleratorReport> hardware) {
        return new BackendReport(BACKEND_NAME, result, "", library, hardware.stream().toList());
    }
}
