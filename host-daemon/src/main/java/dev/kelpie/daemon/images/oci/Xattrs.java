package dev.kelpie.daemon.images.oci;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * Sets extended attributes in any namespace ({@code security.capability} included), without following a final
 * symlink: the JDK's user-defined attribute view reaches only {@code user.*}.
 */
final class Xattrs {

    private static final MethodHandle LSETXATTR;
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final long ERRNO_OFFSET = Linker.Option.captureStateLayout()
            .byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));

    static {
        Linker linker = Linker.nativeLinker();
        LSETXATTR = linker.downcallHandle(linker.defaultLookup().find("lsetxattr").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT), ERRNO);
    }

    private Xattrs() {}

    static void set(Path file, String name, byte[] value) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
            MemorySegment data = arena.allocate(Math.max(1, value.length));
            MemorySegment.copy(value, 0, data, ValueLayout.JAVA_BYTE, 0, value.length);
            int rc = (int) LSETXATTR.invokeExact(state, arena.allocateFrom(file.toString()), arena.allocateFrom(name),
                    data, (long) value.length, 0);
            if (rc != 0) {
                throw new IOException("lsetxattr " + name + " on " + file + " failed: errno "
                        + state.get(ValueLayout.JAVA_INT, ERRNO_OFFSET));
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IOException("lsetxattr " + name + " on " + file + " failed: " + e, e);
        }
    }
}
