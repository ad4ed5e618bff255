package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.VmRecord;
import java.util.OptionalDouble;

/** The seam usage accounting reads CPU through: how the host's OS counts a VM process's CPU time. */
@FunctionalInterface
public interface VmCpuTime {

    /** Where nothing can be read (tests, simulations): CPU usage stays 0. */
    VmCpuTime NONE = vm -> OptionalDouble.empty();

    /**
     * CPU seconds (user + system) the VMM process of {@code vm} has used since it started; empty when it is gone,
     * is no longer that process (a reused pid), or cannot be read.
     */
    OptionalDouble secondsOf(VmRecord vm);
}
