package dev.kelpie.daemon.hypervisor.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The boot probe against the real qemu: what it says when the "kernel" is not one. */
class KernelBootProbeTest {

    @TempDir
    Path tmp;

    @Test
    void aFileThatIsNoKernelIsReportedWithQemusOwnWords() throws Exception {
        Path notAKernel = Files.writeString(tmp.resolve("vmlinux"), "definitely not a kernel");
        ProbeResult result = new KernelBootProbe(Duration.ofSeconds(30))
                .boot("qemu-system-x86_64", QemuMachine.forArch("x86_64"), Accelerator.TCG, notAKernel);

        assertEquals(ProbeStatus.UNAVAILABLE, result.status(), result.reason());
        assertTrue(result.reason().startsWith("qemu exited before the kernel printed anything: "), result.reason());
        assertTrue(result.reason().length() > "qemu exited before the kernel printed anything: ".length() + 5,
                "qemu's error is part of the reason: " + result.reason());
    }

    @Test
    void aMissingBinaryIsReported() {
        ProbeResult result = new KernelBootProbe(Duration.ofSeconds(5))
                .boot(tmp.resolve("no-qemu").toString(), QemuMachine.forArch("x86_64"), Accelerator.TCG, tmp.resolve("k"));
        assertEquals(ProbeStatus.UNAVAILABLE, result.status());
        assertTrue(result.reason().startsWith("cannot start "), result.reason());
    }
}
