package dev.kelpie.daemon.sandboxes;

import dev.kelpie.daemon.hypervisor.SavedVmState;
import io.grpc.ManagedChannel;
import java.util.Objects;
import java.util.Optional;

/**
 * How a new sandbox comes up: booted cold (from the warm pool when one fits) or resumed from a saved VM state, and
 * what runs on its agent before it is reported READY — a restore imports its workspace, steps the clock and reseeds
 * entropy there, so no client ever sees a half-restored sandbox. A failing step discards the sandbox like a failed
 * boot.
 *
 * @param resumeFrom a saved VM state to resume instead of booting; its guest is already configured
 * @param restoredFromPackageId the package a restore comes from, recorded with the sandbox; empty for a plain create
 */
public record Launch(Optional<SavedVmState> resumeFrom, ReadyStep beforeReady, String restoredFromPackageId) {

    /** A plain create: boot, configure, ready. */
    public static final Launch COLD_BOOT = new Launch(Optional.empty(), agent -> {});

    public Launch {
        Objects.requireNonNull(resumeFrom, "resumeFrom");
        Objects.requireNonNull(beforeReady, "beforeReady");
        Objects.requireNonNull(restoredFromPackageId, "restoredFromPackageId");
    }

    public Launch(Optional<SavedVmState> resumeFrom, ReadyStep beforeReady) {
        this(resumeFrom, beforeReady, "");
    }

    /** The same launch, recorded as a restore of {@code packageId}. */
    public Launch fromPackage(String packageId) {
        return new Launch(resumeFrom, beforeReady, packageId);
    }

    /** Work on a new sandbox's agent before it is READY. */
    @FunctionalInterface
    public interface ReadyStep {
        void run(ManagedChannel agent) throws InterruptedException;
    }
}
