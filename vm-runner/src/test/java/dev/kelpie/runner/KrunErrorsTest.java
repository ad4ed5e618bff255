package dev.kelpie.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The errno table's macOS rows, which no test here can reach through a process: Hypervisor.framework failures and
 * macOS's own errno numbers (libkrun returns the host's values, and ENOTSUP is 45 there, not 95).
 */
class KrunErrorsTest {

    private static final HostFacts MAC = new HostFacts(true, false);
    private static final RunnerConfig CONFIG = new RunnerConfig("libkrun.1.dylib", 2, "aarch64", 2, 512,
            Path.of("/img/Image"), "console=hvc0", Path.of("/img/rootfs.ext4"), Path.of("/vm/rw.ext4"), 1024,
            Path.of("/vm/agent.sock"), Path.of("/vm/console.log"), List.of(), List.of(), Path.of("/dev/kvm"));

    private static String explain(KrunFunction f, int errno, HostFacts host) {
        return KrunErrors.explain(new KrunCallException(f, -errno), CONFIG, host);
    }

    @Test
    void aStartThatReturnsWithoutAnErrnoSaysSo() {
        assertEquals("libkrun returned from krun_start_enter without running the VM [it returned 0]",
                KrunErrors.explain(new KrunCallException(KrunFunction.START_ENTER, 0), CONFIG, MAC));
    }

    @Test
    void onMacOsAnEinvalStartIsTheMissingEntitlement() {
        String message = explain(KrunFunction.START_ENTER, 22, MAC);
        assertTrue(message.startsWith("Hypervisor.framework would not build the VM: the runner probably lacks the"
                + " com.apple.security.hypervisor entitlement (sign it: deploy/launchd/install.sh sign RUNNER"), message);
        assertTrue(message.endsWith("[krun_start_enter returned -22 (EINVAL: invalid argument)]"), message);
    }

    @Test
    void onMacOsAPermissionErrorAlsoPointsAtTheEntitlement() {
        assertTrue(explain(KrunFunction.START_ENTER, 1, MAC).startsWith("permission denied starting the VM: the runner may"
                + " lack the com.apple.security.hypervisor entitlement"), explain(KrunFunction.START_ENTER, 1, MAC));
        assertTrue(explain(KrunFunction.START_ENTER, 13, MAC).contains("entitlement"));
    }

    @Test
    void onMacOsLibkrunfwIsTheDylib() {
        assertTrue(explain(KrunFunction.START_ENTER, 2, MAC).contains("for an external kernel (libkrunfw.5.dylib;"));
    }

    @Test
    void macOsErrnoNumbersAreReadAsMacOsNumbers() {
        assertTrue(explain(KrunFunction.SET_KERNEL, 45, MAC).startsWith("this libkrun build cannot boot an external kernel"));
        assertEquals("-45 (ENOTSUP: operation not supported)", Errno.describe(45, true));
        assertEquals("-95 (ENOTSUP: operation not supported)", Errno.describe(95, false));
        assertEquals("-45", Errno.describe(45, false), "an unknown number is shown bare");
        assertTrue(explain(KrunFunction.SET_KERNEL, 22, MAC).contains("/img/Image (raw Image)"));
    }
}
