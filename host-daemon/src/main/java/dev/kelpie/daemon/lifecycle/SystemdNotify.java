package dev.kelpie.daemon.lifecycle;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Sends a state line to systemd's notification socket ({@code $NOTIFY_SOCKET}): a Unix datagram, which the JDK
 * cannot send, so the three libc calls it takes are made through FFM. Linux only; elsewhere there is no systemd.
 * The method handles are created when a notifier is made, not in a static initialiser, so a native image can
 * build this class.
 */
final class SystemdNotify {

    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int SUN_PATH_BYTES = 108;
    private static final StructLayout SOCKADDR_UN = MemoryLayout.structLayout(ValueLayout.JAVA_SHORT.withName("family"),
            MemoryLayout.sequenceLayout(SUN_PATH_BYTES, ValueLayout.JAVA_BYTE).withName("path"));
    private static final StructLayout ERRNO = Linker.Option.captureStateLayout();

    private final String address;
    private final MethodHandle socket;
    private final MethodHandle sendto;
    private final MethodHandle close;
    private final VarHandle errno;

    private SystemdNotify(String address) {
        this.address = address;
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        Linker.Option captureErrno = Linker.Option.captureCallState("errno");
        socket = linker.downcallHandle(libc.findOrThrow("socket"), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), captureErrno);
        sendto = linker.downcallHandle(libc.findOrThrow("sendto"), FunctionDescriptor.of(ValueLayout.JAVA_LONG,
                ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS, ValueLayout.JAVA_INT), captureErrno);
        close = linker.downcallHandle(libc.findOrThrow("close"), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT));
        errno = ERRNO.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    }

    /** A notifier for {@code $NOTIFY_SOCKET}, or empty when systemd did not ask for notifications. */
    static Optional<SystemdNotify> fromEnvironment(String notifySocket) {
        if (notifySocket == null || notifySocket.isEmpty() || !System.getProperty("os.name").equals("Linux")) {
            return Optional.empty();
        }
        return Optional.of(new SystemdNotify(notifySocket));
    }

    /** Sends {@code state} (e.g. "READY=1\nSTATUS=serving"). */
    void send(String state) throws IOException {
        // '@' names a socket in the abstract namespace, whose address starts with a NUL byte.
        byte[] path = address.getBytes(StandardCharsets.UTF_8);
        if (path[0] == '@') {
            path[0] = 0;
        }
        if (path.length >= SUN_PATH_BYTES) {
            throw new IOException("NOTIFY_SOCKET is longer than a Unix socket address: " + address);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment callState = arena.allocate(ERRNO);
            int fd = (int) socket.invokeExact(callState, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw new IOException("socket(AF_UNIX, SOCK_DGRAM) failed: errno " + errno.get(callState, 0L));
            }
            try {
                MemorySegment sockaddr = arena.allocate(SOCKADDR_UN);
                sockaddr.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
                MemorySegment.copy(path, 0, sockaddr, ValueLayout.JAVA_BYTE, Short.BYTES, path.length);
                byte[] message = state.getBytes(StandardCharsets.UTF_8);
                MemorySegment buffer = arena.allocateFrom(ValueLayout.JAVA_BYTE, message);
                long sent = (long) sendto.invokeExact(callState, fd, buffer, (long) message.length, MSG_NOSIGNAL,
                        sockaddr, Short.BYTES + path.length);
                if (sent < 0) {
                    throw new IOException("sending to NOTIFY_SOCKET " + address + " failed: errno "
                            + errno.get(callState, 0L));
                }
            } finally {
                int ignored = (int) close.invokeExact(fd);
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("calling libc to notify systemd failed: " + t, t);
        }
    }
}
