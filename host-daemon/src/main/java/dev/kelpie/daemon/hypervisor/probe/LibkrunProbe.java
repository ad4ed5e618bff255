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

    private final HostPlatform platform;

    public LibkrunProbe(HostPlatform platform) {
        this.platform = platform;
    }

    /**
     * @param library the library's path, or a name the loader searches
     * @param nativeRunner whether a native runner is configured: on macOS only a binary signed with the hypervisor
     *     entitlement can start a VM, and the Java runner's {@code java} is not one
     * @param hardware what is known about the accelerator libkrun would use (KVM or HVF); libkrun has no emulation
     */
    public BackendReport probe(String library, boolean nativeRunner, Optional<AcceleratorReport> hardware) {
        String degraded;
        try (Arena arena = Arena.ofConfined()) {
            Libkrun krun = Libkrun.load(library, arena);
            Optional<String> missing = krun.describeMissingRequired();
            if (missing.isPresent()) {
                return report(library, ProbeResult.unavailable(missing.get() + " (libkrun 1.x is required)"), hardware);
            }
            if (!krun.supportsBlockDevices()) {
                return report(library, ProbeResult.unavailable(KrunErrors.WITHOUT_BLOCK_DEVICES), hardware);
            }
            List<KrunFunction> optional = krun.missingFallbacks();
            degraded = optional.isEmpty() ? "" : "without " + String.join(", ", optional.stream().map(KrunFunction::symbol).toList())
                    + " (older libkrun: degraded, see ADR 0021)";
        } catch (LibkrunUnavailableException e) {
            return report(library, ProbeResult.unavailable(e.getMessage()), hardware);
        }
        if (platform.isMacOs() && !nativeRunner) {
            return report(library, ProbeResult.untested("loadable, but on macOS a VM needs a runner signed with the"
                    + " hypervisor entitlement: build and sign the native runner, then set kelpie.libkrun.runner (README,"
                    + " Backends)"), hardware);
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
