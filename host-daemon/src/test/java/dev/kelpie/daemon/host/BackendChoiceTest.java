package dev.kelpie.daemon.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.AcceleratorReport;
import dev.kelpie.daemon.hypervisor.probe.BackendReport;
import dev.kelpie.daemon.hypervisor.probe.ProbeResult;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class BackendChoiceTest {

    private static final ProbeResult WORKS = ProbeResult.available("");

    private static BackendReport qemu(ProbeResult kvm, ProbeResult tcg) {
        return new BackendReport("qemu", WORKS, "7.2.0", "/usr/bin/qemu-system-x86_64", List.of(
                new AcceleratorReport(Accelerator.KVM, kvm),
                new AcceleratorReport(Accelerator.HVF, ProbeResult.unavailable("macOS only")),
                new AcceleratorReport(Accelerator.TCG, tcg)));
    }

    private static BackendReport libkrun(ProbeResult result) {
        return new BackendReport("libkrun", result, "", "libkrun.so.1", List.of());
    }

    @Test
    void prefersLibkrunWhenItWorks() {
        var choice = BackendChoice.from(List.of(libkrun(WORKS), qemu(WORKS, WORKS)));
        assertEquals(Optional.of("libkrun"), choice.backend());
    }

    @Test
    void prefersKvmOverTcgOnlyWhenItBootedAKernel() {
        assertEquals(Optional.of(Accelerator.KVM),
                BackendChoice.from(List.of(libkrun(ProbeResult.unavailable("not installed")), qemu(WORKS, WORKS))).accelerator());

        var untested = BackendChoice.from(List.of(libkrun(ProbeResult.unavailable("not installed")),
                qemu(ProbeResult.untested("no kernel yet"), WORKS)));
        assertEquals(Optional.of(Accelerator.TCG), untested.accelerator());
        assertTrue(untested.reason().contains("kvm untested: no kernel yet"), untested.reason());
        assertTrue(untested.reason().contains("libkrun: not installed"), untested.reason());
    }

    @Test
    void saysWhyNothingWorks() {
        var none = BackendChoice.from(List.of(libkrun(ProbeResult.unavailable("not installed")),
                new BackendReport("qemu", ProbeResult.unavailable("qemu-system-x86_64 not found on PATH"), "", "", List.of())));
        assertEquals(Optional.empty(), none.backend());
        assertTrue(none.reason().contains("qemu-system-x86_64 not found"), none.reason());
    }

    @Test
    void aConfiguredLibkrunServesEvenWhenItsProbeFailsAndTheReasonKeepsWhy() {
        var choice = BackendChoice.from(List.of(libkrun(ProbeResult.unavailable("loadable, but kvm does not work")),
                qemu(WORKS, WORKS)), BackendPreference.LIBKRUN);
        assertEquals(Optional.of("libkrun"), choice.backend());
        assertEquals("libkrun, as kelpie.backend=libkrun asks; its probe says: loadable, but kvm does not work", choice.reason());
        assertEquals(Optional.of(Accelerator.KVM), BackendChoice.qemuAccelerator(List.of(libkrun(WORKS), qemu(WORKS, WORKS))),
                "QEMU keeps its own accelerator whichever backend serves");
    }

    @Test
    void aConfiguredQemuServesEvenWhereLibkrunWorks() {
        var choice = BackendChoice.from(List.of(libkrun(WORKS), qemu(ProbeResult.unavailable("no /dev/kvm"), WORKS)),
                BackendPreference.QEMU);
        assertEquals(Optional.of("qemu"), choice.backend());
        assertEquals(Optional.of(Accelerator.TCG), choice.accelerator());
        assertTrue(choice.reason().startsWith("qemu with tcg; as kelpie.backend=qemu asks"), choice.reason());
    }
}
