package dev.kelpie.daemon.hypervisor.probe;

import dev.kelpie.runner.KrunErrors;
import dev.kelpie.runner.KrunFunction;
import dev.kelpie.runner.Libkrun;
import dev.kelpie.runner.LibkrunUnavailableException;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Optional;

/**
 * Checks whether libkrun can run Kelpie's VMs here, through the same FFM bindings the VM runner uses: the library
 * loads, has every required function, and supports block devices ({@code krun_has_feature(BLK)} where it exists).
 * Missing optional functions are reported as degradations. Loading happens in a confined arena that is closed again:
 * the daemon never keeps libkrun mapped, and never configures a VM itself (that happens in runner processes).
 */
public final class LibkrunProbe {

    static final String BACKEND_NAME = "libkrun";
    private static final long FEATURE_BLK = 1;

    private final HostPlatform platform;

    public LibkrunProbe(HostPlatform platform) {
        this.platform = platform;
    }

    /**
     * @param configuredLibrary the configured library name or path, or empty for the platform's default name
     * @param hardware what is known about the accelerator libkrun would use (KVM or HVF); libkrun has no emulation
     */
    public BackendReport probe(Optional<String> configuredLibrary, Optional<AcceleratorReport> hardware) {
        String library = configuredLibrary.orElse(Libkrun.defaultLibrary(platform.isMacOs()));
        String degraded;
        try (Arena arena = Arena.ofConfined()) {
            Libkrun krun = Libkrun.load(library, arena);
            Optional<String> missing = krun.describeMissingRequired();
            if (missing.isPresent()) {
                return report(library, ProbeResult.unavailable(missing.get() + " (libkrun 1.x is required)"), hardware);
            }
            if (krun.has(KrunFunction.HAS_FEATURE) && krun.call(KrunFunction.HAS_FEATURE, FEATURE_BLK) != 1) {
                return report(library, ProbeResult.unavailable(KrunErrors.withoutBlockDevices()), hardware);
            }
            List<KrunFunction> optional = krun.missingOptional();
            degraded = optional.isEmpty() ? "" : "without " + String.join(", ", optional.stream().map(KrunFunction::symbol).toList())
                    + " (older libkrun: degraded, see ADR 0021)";
        } catch (LibkrunUnavailableException e) {
            return report(library, ProbeResult.unavailable(e.getMessage()), hardware);
        }
        if (hardware.isEmpty()) {
            return report(library, ProbeResult.unavailable("libkrun needs KVM or Hypervisor.framework; neither applies here"), hardware);
        }
        ProbeResult accel = hardware.get().result();
        String name = hardware.get().accelerator().qemuName();
        ProbeResult result = switch (accel.status()) {
            case AVAILABLE -> ProbeResult.available(degraded);
            case UNTESTED -> ProbeResult.untested("loadable, but " + name + " is untested: " + accel.reason());
            case UNAVAILABLE -> ProbeResult.unavailable("loadable, but " + name + " does not work: " + accel.reason());
        };
        return report(library, result, hardware);
    }

    private static BackendReport report(String library, ProbeResult result, Optional<AcceleratorReport> hardware) {
        return new BackendReport(BACKEND_NAME, result, "", library, hardware.stream().toList());
    }
}
