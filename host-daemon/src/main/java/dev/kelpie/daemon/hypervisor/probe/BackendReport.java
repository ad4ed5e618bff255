package dev.kelpie.daemon.hypervisor.probe;

import java.util.List;
import java.util.Optional;

/** What is known about one hypervisor backend on this host. */
public record BackendReport(String name, ProbeResult result, String version, String path,
        List<AcceleratorReport> accelerators) {

    public BackendReport {
        version = version == null ? "" : version;
        path = path == null ? "" : path;
        accelerators = List.copyOf(accelerators);
    }

    /** The best accelerator proven to work, if any. */
    public Optional<Accelerator> bestAvailableAccelerator() {
        return accelerators.stream().filter(a -> a.result().isAvailable()).map(AcceleratorReport::accelerator).findFirst();
    }

    /** The report of one accelerator. */
    public Optional<AcceleratorReport> accelerator(Accelerator accelerator) {
        return accelerators.stream().filter(a -> a.accelerator() == accelerator).findFirst();
    }
}
