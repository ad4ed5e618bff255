package dev.kelpie.daemon.stats;

import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import java.nio.file.Files;
import java.nio.file.Path;
import dev.kelpie.daemon.sandboxes.VmCpuTime;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalLong;

/** The seam to the host OS for per-sandbox stats: what a VM process uses, and what a sparse disk file occupies. */
public interface HostResources {

    /** Reads nothing (simulations, whose VMs have no real process): samples have no host-side figures. */
    HostResources NONE = new HostResources() {
        @Override
        public Optional<ProcessSample> process(ProcessIdentity process) {
            return Optional.empty();
        }

        @Override
        public OptionalDouble cpuSeconds(ProcessIdentity process) {
            return OptionalDouble.empty();
        }

        @Override
        public OptionalLong allocatedBytes(Path file) {
            return OptionalLong.empty();
        }
    };

    /** The process {@code process} names, if it still runs (a reused pid is not it); empty when it cannot be read. */
    Optional<ProcessSample> process(ProcessIdentity process);

    /** Just the CPU time of {@link #process}, cheaper to read: usage accounting reads it on every Get. */
    OptionalDouble cpuSeconds(ProcessIdentity process);

    /** Bytes the file occupies on the host's disk (st_blocks x 512), which for a sparse file is less than its size. */
    OptionalLong allocatedBytes(Path file);

    /** Linux reads /proc; elsewhere (macOS) what the JDK and {@code ps} report. */
    static HostResources forThisHost() {
        return Files.isReadable(Path.of("/proc/self/stat")) ? new ProcfsResources() : new PortableResources();
    }

    /** The VM CPU time usage accounting reads, from the same source. */
    default VmCpuTime cpuTime() {
        return vm -> cpuSeconds(vm.process());
    }
}
