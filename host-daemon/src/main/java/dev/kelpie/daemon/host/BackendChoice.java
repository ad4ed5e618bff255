package dev.kelpie.daemon.host;

import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import dev.kelpie.daemon.hypervisor.probe.ProbeStatus;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The backend new sandboxes use, and why. libkrun wins when it works (no emulation, smallest overhead); otherwise
 * QEMU with the best accelerator that booted a kernel. An accelerator that is merely present is never chosen.
 */
public record BackendChoice(Optional<String> backend, Optional<Accelerator> accelerator, String reason) {

    public static BackendChoice from(List<BackendReport> reports) {
        Optional<BackendReport> libkrun = find(reports, "libkrun").filter(r -> r.result().isAvailable());
        if (libkrun.isPresent()) {
            return new BackendChoice(Optional.of("libkrun"), libkrun.get().bestAvailableAccelerator(), "libkrun works here");
        }
        String whyNotLibkrun = find(reports, "libkrun").map(r -> "libkrun: " + r.result().reason()).orElse("libkrun not probed");
        Optional<BackendReport> qemu = find(reports, "qemu");
        Optional<Accelerator> accel = qemu.flatMap(BackendReport::bestAvailableAccelerator);
        if (accel.isEmpty()) {
            String whyNotQemu = qemu.map(r -> "qemu: " + r.result().reason()).orElse("qemu not probed");
            return new BackendChoice(Optional.empty(), Optional.empty(), "no backend works; " + whyNotLibkrun + "; " + whyNotQemu);
        }
        String skipped = qemu.get().accelerators().stream()
                .filter(a -> a.accelerator().ordinal() < accel.get().ordinal() && a.result().status() != ProbeStatus.AVAILABLE)
                .map(a -> a.accelerator().qemuName() + " " + a.result().status().name().toLowerCase() + ": " + a.result().reason())
                .collect(Collectors.joining("; "));
        return new BackendChoice(Optional.of("qemu"), accel, "qemu with " + accel.get().qemuName() + "; " + whyNotLibkrun
                + (skipped.isEmpty() ? "" : "; " + skipped));
    }

    private static Optional<BackendReport> find(List<BackendReport> reports, String name) {
        return reports.stream().filter(r -> r.name().equals(name)).findFirst();
    }
}
