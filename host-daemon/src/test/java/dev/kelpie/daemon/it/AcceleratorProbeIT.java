package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon proves accelerators by booting the project's own guest kernel, and remembers the verdict across
 * restarts. On our machines /dev/kvm opens but cannot run Linux guests: KVM must not come out "available" there
 * without having booted.
 */
class AcceleratorProbeIT {

    private static final String BOOT_TIMEOUT = "15s";

    @TempDir
    Path work;

    @Test
    void bootsTheKernelOnEachAcceleratorAndCachesTheVerdict() throws Exception {
        String kernel = System.getProperty("kelpie.it.kernel", "");
        Assumptions.assumeFalse(kernel.isBlank(), "no guest kernel given (-Dkelpie.kernel=...; scripts/dev passes it)");
        String cacheDir = "-Dkelpie.probe.cache-dir=" + work.resolve("probe-cache");
        String[] args = {"-Dkelpie.probe.kernel=" + kernel, "-Dkelpie.probe.boot-timeout=" + BOOT_TIMEOUT, cacheDir};

        JsonNode firstQemu;
        Path stateDir;
        try (DaemonProcess daemon = DaemonProcess.startServing(work, "probe", args)) {
            stateDir = daemon.stateDir;
            firstQemu = Probes.awaitBackend(daemon, "qemu");
            JsonNode tcg = Probes.accelerator(firstQemu, "tcg");
            assertEquals("PROBE_STATUS_AVAILABLE", tcg.path("status").asText(), tcg.toString());
            assertTrue(tcg.path("reason").asText().startsWith("booted a Linux kernel in "), tcg.toString());
            assertTrue(tcg.path("probeDurationMs").asLong() > 0, tcg.toString());

            JsonNode kvm = Probes.accelerator(firstQemu, "kvm");
            String kvmStatus = kvm.path("status").asText();
            assertFalse(kvmStatus.equals("PROBE_STATUS_UNTESTED"), "with a kernel, KVM is decided: " + kvm);
            if (kvmStatus.equals("PROBE_STATUS_AVAILABLE")) {
                assertTrue(kvm.path("reason").asText().startsWith("booted a Linux kernel"), kvm.toString());
            } else {
                assertFalse(kvm.path("reason").asText().isEmpty(), kvm.toString());
            }
            JsonNode info = Probes.info(daemon);
            String expected = kvmStatus.equals("PROBE_STATUS_AVAILABLE") ? "qemu with kvm" : "qemu with tcg";
            assertTrue(info.path("selectionReason").asText().startsWith(expected), info.toString());
        }

        try (DaemonProcess restarted = DaemonProcess.start(stateDir, work.resolve("again.sock"), work.resolve("again.log"), args)) {
            restarted.awaitServing();
            JsonNode qemu = Probes.awaitBackend(restarted, "qemu");
            JsonNode tcg = Probes.accelerator(qemu, "tcg");
            assertTrue(tcg.path("reason").asText().endsWith("(cached)"), "a restart reuses the verdict: " + tcg);
            assertEquals(Probes.accelerator(firstQemu, "kvm").path("status"), Probes.accelerator(qemu, "kvm").path("status"));
        }

        // Another daemon of this host (its own state directory) does not pay for the probe again either.
        try (DaemonProcess other = DaemonProcess.startServing(work, "other", args)) {
            JsonNode kvm = Probes.accelerator(Probes.awaitBackend(other, "qemu"), "kvm");
            assertTrue(kvm.path("reason").asText().endsWith("(cached)"), "shared by the host's daemons: " + kvm);
        }
    }

    @Test
    void aConfiguredAcceleratorIsTheOnlyOneProbed() throws Exception {
        String kernel = System.getProperty("kelpie.it.kernel", "");
        Assumptions.assumeFalse(kernel.isBlank(), "no guest kernel given (-Dkelpie.kernel=...; scripts/dev passes it)");
        try (DaemonProcess daemon = DaemonProcess.startServing(work, "tcg-only", "-Dkelpie.probe.kernel=" + kernel,
                "-Dkelpie.qemu.accelerator=tcg", "-Dkelpie.probe.cache-dir=" + work.resolve("fresh-cache"))) {
            JsonNode qemu = Probes.awaitBackend(daemon, "qemu");
            JsonNode kvm = Probes.accelerator(qemu, "kvm");
            assertEquals("PROBE_STATUS_UNTESTED", kvm.path("status").asText(), kvm.toString());
            assertEquals("not probed: kelpie.qemu.accelerator=tcg", kvm.path("reason").asText());
            assertEquals("PROBE_STATUS_AVAILABLE", Probes.accelerator(qemu, "tcg").path("status").asText());
        }
    }
}
