package dev.kelpie.daemon.errors;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.FileSystemException;

/**
 * Recognises a full disk by what the platform reports for ENOSPC: the JDK's file and channel errors carry the C
 * library's {@code strerror(ENOSPC)}, and so does what qemu writes when a migration stream hits a full disk. The text
 * is asked of the C library at start-up (locale and libc decide it), not written down here.
 */
public final class NoSpace {

    /** ENOSPC on Linux and on macOS (both take it from 4.4BSD). */
    private static final int ENOSPC = 28;
    private static final String FALLBACK_TEXT = "No space left on device";
    private static final String STRERROR_ENOSPC = askTheCLibrary();

    private NoSpace() {}

    /** What this platform says for ENOSPC. */
    public static String platformText() {
        return STRERROR_ENOSPC;
    }

    private static String askTheCLibrary() {
        try {
            Linker linker = Linker.nativeLinker();
            MethodHandle strerror = linker.downcallHandle(linker.defaultLookup().find("strerror").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MemorySegment text = (MemorySegment) strerror.invokeExact(ENOSPC);
            return text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable e) {
            return FALLBACK_TEXT;
        }
    }

    /** Whether {@code failure} or one of its causes is the platform reporting ENOSPC. */
    public static boolean reportedBy(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof FileSystemException f && STRERROR_ENOSPC.equals(f.getReason())) {
                return true;
            }
            if (reportedBy(t.getMessage())) {
                return true;
            }
        }
        return false;
    }

    /** {@link #reportedBy(Throwable)} for a message about to become an exception, and its cause. */
    public static boolean reportedBy(String message, Throwable cause) {
        return reportedBy(message) || (cause != null && reportedBy(cause));
    }

    /**
     * A channel write reports strerror alone; a program that failed to write (qemu, or the cat writing its migration
     * stream, whose words the VM's errors quote) prints it perror-style, after ": ".
     */
    private static boolean reportedBy(String message) {
        return message != null && (message.equals(STRERROR_ENOSPC) || message.contains(": " + STRERROR_ENOSPC));
    }
}
