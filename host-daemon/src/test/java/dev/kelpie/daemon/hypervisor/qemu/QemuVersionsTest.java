package dev.kelpie.daemon.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.probe.CommandRunner;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** qemu's version as a saved state records it: read from {@code --version}, once per binary. */
class QemuVersionsTest {

    @TempDir
    Path dir;

    private Path fakeQemu(String name, String output, int status) throws IOException {
        return FakeQemuBinary.create(dir, name, output, status);
    }

    private long runs(String name) throws IOException {
        return FakeQemuBinary.runs(dir, name).size();
    }

    @Test
    void readsTheVersionOncePerBinary() throws IOException {
        Path debian = fakeQemu("qemu-a", "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", 0);
        Path other = fakeQemu("qemu-b", "QEMU emulator version 8.2.2", 0);
        QemuVersions versions = new QemuVersions(new CommandRunner());

        assertEquals("7.2.22", versions.of(debian.toString()));
        assertEquals("7.2.22", versions.of(debian.toString()));
        assertEquals("8.2.2", versions.of(other.toString()));
        assertEquals(1, runs("qemu-a"));
        assertEquals(1, runs("qemu-b"));
    }

    @Test
    void aFailingBinaryIsReportedAndAskedAgainNextTime() throws IOException {
        Path broken = fakeQemu("qemu-c", "error while loading shared libraries", 127);
        QemuVersions versions = new QemuVersions(new CommandRunner());

        VmException first = assertThrows(VmException.class, () -> versions.of(broken.toString()));
        assertTrue(first.getMessage().contains("exited with status 127: error while loading shared libraries"),
                first.getMessage());
        assertThrows(VmException.class, () -> versions.of(broken.toString()));
        assertEquals(2, runs("qemu-c"));
        VmException missing = assertThrows(VmException.class, () -> versions.of(dir.resolve("absent").toString()));
        assertTrue(missing.getMessage().startsWith("cannot run " + dir.resolve("absent") + " --version"), missing.getMessage());
    }
}
