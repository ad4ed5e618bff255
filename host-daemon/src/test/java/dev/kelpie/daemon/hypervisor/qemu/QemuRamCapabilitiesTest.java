package dev.kelpie.daemon.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.hypervisor.Executables;
import dev.kelpie.daemon.hypervisor.probe.CommandRunner;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.hypervisor.probe.QemuProbe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whether clones can map a frozen RAM file read-only and private: asked of the binary's backend properties, once. */
class QemuRamCapabilitiesTest {

    /** What {@code -object memory-backend-file,help} lists, abridged: QEMU 7.2 has readonly but not rom. */
    private static final String QEMU_7_2 = "memory-backend-file options:\n  discard-data=<bool>\n  mem-path=<string>\n"
            + "  readonly=<bool>\n  share=<bool>\n";
    private static final String QEMU_10 = QEMU_7_2 + "  rom=<OnOffAuto>        - Whether to create Read Only Memory (ROM)\n";

    @TempDir
    Path dir;

    private Path fakeQemu(String name, String output, int status) throws IOException {
        return FakeQemuBinary.create(dir, name, output, status);
    }

    @Test
    void theRomPropertyIsTheCapabilityAndIsAskedOncePerBinary() throws IOException {
        QemuRamCapabilities capabilities = new QemuRamCapabilities(new CommandRunner());
        Path old = fakeQemu("qemu-old", QEMU_7_2, 0);
        Path recent = fakeQemu("qemu-new", QEMU_10, 0);

        assertFalse(capabilities.privateReadOnlyFile(old.toString()), "readonly alone made a ROM before QEMU 8.2");
        assertTrue(capabilities.privateReadOnlyFile(recent.toString()));
        assertTrue(capabilities.privateReadOnlyFile(recent.toString()));
        assertEquals(List.of("-object memory-backend-file,help"), FakeQemuBinary.runs(dir, "qemu-new"));
    }

    @Test
    void aBinaryThatCannotAnswerHasNoSuchMapping() throws IOException {
        QemuRamCapabilities capabilities = new QemuRamCapabilities(new CommandRunner());

        assertFalse(capabilities.privateReadOnlyFile(fakeQemu("qemu-broken", QEMU_10, 1).toString()),
                "a failing binary is not trusted with what it printed");
        assertFalse(capabilities.privateReadOnlyFile(dir.resolve("absent").toString()));
    }

    /** The real binary on PATH agrees with its version: the property and the version move together in QEMU. */
    @Test
    void theInstalledQemuAnswersAsItsVersionSays() throws IOException {
        String binary = "qemu-system-" + HostPlatform.current().arch();
        Assumptions.assumeTrue(Executables.find(binary).isPresent(), "no " + binary + " on PATH");
        CommandRunner commands = new CommandRunner();
        String version = QemuProbe.parseVersion(commands.run(List.of(binary, "--version"),
                QemuVersions.VERSION_TIMEOUT).output());
        String[] parts = version.split("\\.");
        boolean atLeast82 = Integer.parseInt(parts[0]) > 8 || (Integer.parseInt(parts[0]) == 8 && Integer.parseInt(parts[1]) >= 2);

        assertEquals(atLeast82, new QemuRamCapabilities(commands).privateReadOnlyFile(binary),
                "QEMU " + version);
    }
}
