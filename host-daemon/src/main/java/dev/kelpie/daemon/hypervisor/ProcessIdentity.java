package dev.kelpie.daemon.hypervisor;

import java.time.Instant;
import java.util.Optional;

/**
 * A process named by pid and start time. A pid alone is not an identity: after a reboot or a wrap-around it may name
 * an unrelated process, which the daemon must never signal.
 */
public record ProcessIdentity(long pid, long startMillis) {

    /** The live process with this pid, if any, with its start time as the OS reports it now. */
    public static Optional<ProcessIdentity> of(long pid) {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .flatMap(h -> h.info().startInstant().map(start -> new ProcessIdentity(pid, start.toEpochMilli())));
    }

    /** The process this identity names, if it still runs. */
    public Optional<ProcessHandle> live() {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .filter(h -> h.info().startInstant().map(Instant::toEpochMilli).map(s -> s == startMillis).orElse(false));
    }
}
