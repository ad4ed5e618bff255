package dev.kelpie.daemon.host;

import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import dev.kelpie.daemon.hypervisor.probe.ProbeStatus;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The backend new sandboxes use, and why. Left to itself ({@link BackendPreference#AUTO}) libkrun wins when it works
 * (no emulation, smallest overhead); otherwise QEMU with the best accelerator that booted a kernel. An accelerator
 * that is merely present is never chosen. A configured backend is used as asked, and the reason keeps what its probe
 * found.
 */
public record BackendChoice(Optional<String> backend, Optional<Accelerator> accelerator, String reason) {

    public static BackendChoice from(List<BackendReport> reports) {
        return from(reports, BackendPreference.AUTO);
    }

    public static BackendChoice from(List<BackendReport> reports, BackendPreference preference) {
        Optional<BackendReport> libkrun = find(reports, "libkrun");
        String whyNotLibkrun = libkrun.map(r -> "libkrun: " + r.result().reason()).orElse("libkrun not probed");
        return switch (preference) {
            case LIBKRUN -> new BackendChoice(Optional.of("libkrun"), libkrun.flatMap(BackendReport::bestAvailableAccelerator),
                    "libkrun, as kelpie.backend=libkrun asks" + libkrun.filter(r -> !r.result().isAvailable())
                            .map(r -> "; its probe says: " + r.result().reason()).orElse(""));
            case QEMU -> qemu(reports, "as kelpie.backend=qemu asks");
            case AUTO -> libkrun.filter(r -> r.result().isAvailable())
                    .map(r -> new BackendChoice(Optional.of("libkrun"), r.bestAvailableAccelerator(), "libkrun works here"))
                    .orElseGet(() -> qemu(reports, whyNotLibkrun));
        };
    }

    private static BackendChoice qemu(List<BackendReport> reports, String context) {
        Optional<BackendReport> qemu = find(reports, "qemu");
        Optional<Accelerator> accel = qemu.flatMap(BackendReport::bestAvailableAccelerator);
        if (accel.isEmpty()) {
            String whyNotQemu = qemu.map(r -> "qemu: " + r.result().reason()).orElse("qemu not probed");
            return new BackendChoice(Optional.empty(), Optional.empty(), "no backend works; " + context + "; " + whyNotQemu);
        }
        String skipped = qemu.get().accelerators().stream()
                .filter(a -> a.accelerator().ordinal() < accel.get().ordinal() && a.result().status() != ProbeStatus.AVAILABLE)
                .map(a -> a.accelerator().qemuName() + " " + a.result().status().name().toLowerCase() + ": " + a.result().reason())
                .collect(Collectors.joining("; "));
        return new BackendChoice(Optional.of("qemu"), accel, "qemu with " + accel.get().qemuName() + "; " + context
                + (skipped.isEmpty() ? "" : "; " + skipped));
    }

    /** The accelerator QEMU uses here: the best one its probe proved, whichever backend was chosen. */
    public static Optional<Accelerator> qemuAccelerator(List<BackendReport> reports) {
        return find(reports, "qemu").flatMap(BackendReport::bestAvailableAccelerator);
    }

    private static Optional<BackendReport> find(List<BackendReport> reports, String name) {
        return reports.stream().filter(r -> r.name().equals(name)).findFirst();
    }
}
