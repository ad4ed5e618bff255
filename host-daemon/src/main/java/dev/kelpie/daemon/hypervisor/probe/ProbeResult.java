package dev.kelpie.daemon.hypervisor.probe;

import java.time.Duration;
import java.util.Objects;

/** A probe's outcome, why, and how long it took to find out (zero when nothing was booted). */
public record ProbeResult(ProbeStatus status, String reason, Duration duration) {

    public ProbeResult {
        Objects.requireNonNull(status, "status");
        reason = reason == null ? "" : reason;
        duration = duration == null ? Duration.ZERO : duration;
    }

    public static ProbeResult available(String reason) {
        return new ProbeResult(ProbeStatus.AVAILABLE, reason, Duration.ZERO);
    }

    public static ProbeResult unavailable(String reason) {
        return new ProbeResult(ProbeStatus.UNAVAILABLE, reason, Duration.ZERO);
    }

    public static ProbeResult untested(String reason) {
        return new ProbeResult(ProbeStatus.UNTESTED, reason, Duration.ZERO);
    }

    public boolean isAvailable() {
        return status == ProbeStatus.AVAILABLE;
    }
}
