package dev.kelpie.runner;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;

/**
 * Moves the runner into a session of its own ({@code setsid(2)}), on Linux and macOS alike: a VM must outlive its
 * daemon, and in the daemon's session a terminal's Ctrl-C or a signal to the daemon's process group would reach it.
 * Done by the runner itself because macOS has no {@code setsid} command to start it with.
 */
final class OwnSession {

    /** {@code pid_t setsid(void)}. */
    static final FunctionDescriptor SETSID = FunctionDescriptor.of(JAVA_INT);

    private OwnSession() {}

    /**
     * Returns the new session's id, or -1 when the runner already leads a process group (started by a shell as a job,
     * or through the {@code setsid} command): it is then out of the daemon's group anyway.
     */
    static int enter() {
        Linker linker = Linker.nativeLinker();
        MethodHandle setsid = linker.downcallHandle(linker.defaultLookup().find("setsid")
                .orElseThrow(() -> new IllegalStateException("the C library has no setsid")), SETSID);
        try {
            return (int) setsid.invokeExact();
        } catch (Throwable e) {
            throw new IllegalStateException("setsid failed: " + e, e);
        }
    }
}
