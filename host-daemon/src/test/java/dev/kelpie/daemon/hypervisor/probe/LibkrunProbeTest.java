package dev.kelpie.daemon.hypervisor.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.runner.KrunDouble;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The probe against the libkrun double's variants: the same bindings the runner uses decide what works. */
class LibkrunProbeTest {

    private static final Optional<AcceleratorReport> KVM_WORKS =
            Optional.of(new AcceleratorReport(Accelerator.KVM, ProbeResult.available("")));
    private final LibkrunProbe probe = new LibkrunProbe(new HostPlatform("linux", "x86_64"));

    @TempDir
    static Path built;
    static Path full;
    static Path withoutOptional;
    static Path withoutVsockPort2;

    @BeforeAll
    static void buildDoubles() throws Exception {
        full = KrunDouble.build(built, KrunDouble.Variant.FULL);
        withoutOptional = KrunDouble.build(built, KrunDouble.Variant.WITHOUT_OPTIONAL);
        withoutVsockPort2 = KrunDouble.build(built, KrunDouble.Variant.WITHOUT_VSOCK_PORT2);
    }

    @Test
    void aCompleteLibraryWithWorkingKvmIsAvailable() {
        BackendReport report = probe.probe(full.toString(), false, KVM_WORKS);
        assertEquals(ProbeResult.available(""), report.result());
        assertEquals(full.toString(), report.path());
    }

    @Test
    void missingOptionalFunctionsAreReportedAsADegradation() {
        BackendReport report = probe.probe(withoutOptional.toString(), false, KVM_WORKS);
        assertEquals(ProbeStatus.AVAILABLE, report.result().status());
        assertEquals("without krun_init_log, krun_has_feature, krun_get_max_vcpus, krun_add_disk2,"
                + " krun_disable_implicit_vsock, krun_add_vsock, krun_set_console_output, krun_set_rlimits (older libkrun: degraded, see ADR 0021)", report.result().reason());
    }

    @Test
    void aMissingRequiredFunctionMakesItUnavailable() {
        BackendReport report = probe.probe(withoutVsockPort2.toString(), false, KVM_WORKS);
        assertEquals(ProbeStatus.UNAVAILABLE, report.result().status());
        assertEquals(withoutVsockPort2 + " lacks krun_add_vsock_port2 (libkrun 1.10+) (libkrun 1.x is required)",
                report.result().reason());
    }

    @Test
    void aLibraryThatDoesNotLoadOrKvmThatDoesNotWorkMakeItUnavailable() {
        BackendReport missing = probe.probe(built.resolve("nothing/libkrun.so.1").toString(), false, KVM_WORKS);
        assertEquals(ProbeStatus.UNAVAILABLE, missing.result().status());
        assertTrue(missing.result().reason().contains("cannot be loaded (install libkrun 1.x with libkrunfw"),
                missing.result().reason());

        BackendReport noKvm = probe.probe(full.toString(), false,
                Optional.of(new AcceleratorReport(Accelerator.KVM, ProbeResult.unavailable("the guest kernel hung"))));
        assertEquals(ProbeResult.unavailable("loadable, but kvm does not work: the guest kernel hung"), noKvm.result());
    }

    @Test
    void onMacOsTheJavaRunnerCannotStartAVmSoLibkrunIsOnlyUntested() {
        LibkrunProbe mac = new LibkrunProbe(new HostPlatform("macos", "aarch64"));
        Optional<AcceleratorReport> hvf = Optional.of(new AcceleratorReport(Accelerator.HVF, ProbeResult.available("")));
        BackendReport report = mac.probe(full.toString(), false, hvf);
        assertEquals(ProbeStatus.UNTESTED, report.result().status());
        assertTrue(report.result().reason().contains("set kelpie.libkrun.runner"), report.result().reason());
        assertEquals(ProbeStatus.AVAILABLE, mac.probe(full.toString(), true, hvf).result().status());
    }
}
