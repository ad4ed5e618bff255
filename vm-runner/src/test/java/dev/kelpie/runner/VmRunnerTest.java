package dev.kelpie.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The runner as a process against the libkrun double: the exact calls a configuration makes, the degradations without
 * optional functions, every row of the errno table, and the exit statuses the daemon reads. The double's
 * {@code krun_start_enter} runs {@code /bin/true} or {@code /bin/false} as the "VM" here; {@code LibkrunBackendIT}
 * boots a real guest through it.
 */
class VmRunnerTest {

    @TempDir
    static Path built;
    private static Path full;
    private static Path withoutOptional;
    private static Path withoutVsockPort2;

    @TempDir
    Path work;

    @BeforeAll
    static void buildDoubles() throws IOException, InterruptedException {
        full = KrunDouble.build(built, KrunDouble.Variant.FULL);
        withoutOptional = KrunDouble.build(built, KrunDouble.Variant.WITHOUT_OPTIONAL);
        withoutVsockPort2 = KrunDouble.build(built, KrunDouble.Variant.WITHOUT_VSOCK_PORT2);
    }

    private RunnerConfig config(Path library, int vcpus, List<String> rlimits, Path kvmDevice) {
        return new RunnerConfig(library.toString(), 2, "x86_64", vcpus, 512, Path.of("/img/vmlinux"),
                "console=hvc0 root=/dev/vda ro", Path.of("/img/rootfs.ext4"), work.resolve("rw.ext4"), 1024,
                work.resolve("agent.sock"), work.resolve("console.log"), rlimits, List.of("KELPIE=1"), kvmDevice);
    }

    private RunnerProcess.Outcome run(RunnerConfig config, Map<String, String> env) throws IOException, InterruptedException {
        Path file = work.resolve("runner.json");
        config.write(file, new ObjectMapper());
        return RunnerProcess.run(work, file, env);
    }

    @Test
    void aConfigurationMakesExactlyTheseCallsAndLibkrunsExitStatusBecomesTheRunners() throws Exception {
        // 200 vCPUs: a uint8_t bound with the wrong width or sign would show up as another number.
        var out = run(config(full, 200, List.of("6=1024:1024"), Path.of("/dev/kvm")), Map.of(KrunDouble.QEMU_ENV, "/bin/true",
                KrunDouble.MAX_VCPUS_ENV, "255"));
        String w = work.toString();
        assertEquals(List.of(
                "krun_init_log(-1, 2, 2, 1) = 0",
                "krun_has_feature(1) = 1",
                "krun_get_max_vcpus() = 255",
                "krun_create_ctx() = 0",
                "krun_set_vm_config(0, 200, 512) = 0",
                "krun_set_kernel(0, \"/img/vmlinux\", 1, NULL, \"console=hvc0 root=/dev/vda ro\") = 0",
                "krun_add_disk2(0, \"root\", \"/img/rootfs.ext4\", 0, true) = 0",
                "krun_add_disk2(0, \"rw\", \"" + w + "/rw.ext4\", 0, false) = 0",
                "krun_disable_implicit_vsock(0) = 0",
                "krun_add_vsock(0, 0) = 0",
                "krun_add_vsock_port2(0, 1024, \"" + w + "/agent.sock\", true) = 0",
                "krun_set_console_output(0, \"" + w + "/console.log\") = 0",
                "krun_set_rlimits(0, [\"6=1024:1024\"]) = 0",
                "krun_set_env(0, [\"KELPIE=1\"]) = 0",
                "krun_start_enter(0) = 0"), out.calls());
        assertEquals(0, out.status(), out.stderr());

        var failing = run(config(full, 1, List.of(), Path.of("/dev/kvm")), Map.of(KrunDouble.QEMU_ENV, "/bin/false"));
        assertEquals(1, failing.status(), "what libkrun (here the double, for QEMU) _exit()ed with, untouched: "
                + failing.stderr());
        assertTrue(failing.calls().stream().noneMatch(c -> c.startsWith("krun_set_rlimits")), "no rlimits, no call");
    }

    @Test
    void withoutOptionalFunctionsItFallsBackAndSaysSo() throws Exception {
        var out = run(config(withoutOptional, 1, List.of("6=1024:1024"), Path.of("/dev/kvm")), Map.of(KrunDouble.QEMU_ENV, "/bin/true"));
        String w = work.toString();
        assertEquals(List.of(
                "krun_set_log_level(2) = 0",
                "krun_create_ctx() = 0",
                "krun_set_vm_config(0, 1, 512) = 0",
                "krun_set_kernel(0, \"/img/vmlinux\", 1, NULL, \"console=hvc0 root=/dev/vda ro\") = 0",
                "krun_add_disk(0, \"root\", \"/img/rootfs.ext4\", true) = 0",
                "krun_add_disk(0, \"rw\", \"" + w + "/rw.ext4\", false) = 0",
                "krun_add_vsock_port2(0, 1024, \"" + w + "/agent.sock\", true) = 0",
                "krun_set_port_map(0, []) = 0",
                "krun_set_env(0, [\"KELPIE=1\"]) = 0",
                "krun_start_enter(0) = 0"), out.calls());
        assertEquals(0, out.status(), out.stderr());
        for (String missing : List.of("krun_init_log", "krun_has_feature", "krun_add_disk2", "krun_set_console_output",
                "krun_set_rlimits", "krun_disable_implicit_vsock")) {
            assertTrue(out.stderr().contains(VmRunner.NOTE_PREFIX + missing + " is missing"), missing + ": " + out.stderr());
        }
    }

    @Test
    void moreVcpusThanTheHypervisorRunsAreRefusedBeforeAContextExists() throws Exception {
        var out = run(config(full, 9, List.of(), Path.of("/dev/kvm")), Map.of(KrunDouble.QEMU_ENV, "/bin/true"));
        assertEquals(VmRunner.EXIT_BAD_CONFIG, out.status(), out.stderr());
        assertTrue(out.stderr().contains("9 vCPUs asked, but this host's hypervisor runs at most 8 per VM"), out.stderr());
        assertTrue(out.calls().stream().noneMatch(c -> c.startsWith("krun_create_ctx")), out.calls().toString());
    }

    @Test
    void aLibraryWithoutARequiredFunctionIsRefusedBeforeAnyCall() throws Exception {
        var out = run(config(withoutVsockPort2, 1, List.of(), Path.of("/dev/kvm")), Map.of());
        assertEquals(VmRunner.EXIT_LIBKRUN_UNAVAILABLE, out.status());
        assertTrue(out.stderr().contains(VmRunner.ERROR_PREFIX + withoutVsockPort2 + " lacks krun_add_vsock_port2 (libkrun 1.10+)"),
                out.stderr());
        assertEquals(List.of(), out.calls());
    }

    @Test
    void aLibraryWithoutBlockDevicesIsRefusedBeforeAContextExists() throws Exception {
        var out = run(config(full, 1, List.of(), Path.of("/dev/kvm")), Map.of(KrunDouble.NO_BLK_ENV, "1"));
        assertEquals(VmRunner.EXIT_LIBKRUN_UNAVAILABLE, out.status());
        assertTrue(out.stderr().contains("built without block-device support (BLK=1)"), out.stderr());
        assertEquals(List.of("krun_init_log(-1, 2, 2, 1) = 0", "krun_has_feature(1) = 0"), out.calls());
    }

    @Test
    void aLibraryThatDoesNotLoadNamesWhatToInstall() throws Exception {
        var out = run(config(work.resolve("no-such-libkrun.so.1"), 1, List.of(), Path.of("/dev/kvm")), Map.of());
        assertEquals(VmRunner.EXIT_LIBKRUN_UNAVAILABLE, out.status());
        assertTrue(out.stderr().contains("cannot be loaded (install libkrun 1.x with libkrunfw, or set kelpie.libkrun.library"),
                out.stderr());
    }

    @Test
    void aBrokenConfigFileIsRefusedWithTheField() throws Exception {
        Path file = work.resolve("runner.json");
        Files.writeString(file, "{\"library\": \"x\"}");
        var out = RunnerProcess.run(work, file, Map.of());
        assertEquals(VmRunner.EXIT_BAD_CONFIG, out.status());
        assertTrue(out.stderr().contains("runner config lacks \"logLevel\""), out.stderr());
    }

    @Test
    void theAgentSocketMustNotExistYet() throws Exception {
        // The real contract, not an injected failure: with listen=true libkrun creates the socket and refuses a path
        // that exists.
        Files.writeString(work.resolve("agent.sock"), "stale");
        var out = run(config(full, 1, List.of(), Path.of("/dev/kvm")), Map.of());
        assertEquals(VmRunner.EXIT_KRUN_FAILED, out.status());
        assertTrue(out.stderr().contains("the agent socket " + work.resolve("agent.sock") + " already exists"), out.stderr());
        assertEquals("krun_free_ctx(0) = 0", out.calls().getLast());
    }

    /** Each row of ADR 0021's errno table that Linux can produce: failed call, errno, what the user reads. */
    static Stream<Arguments> errnoTable() {
        return Stream.of(
                Arguments.of("krun_create_ctx:12", "out of memory: libkrun could not set up a VM of 512 MiB [krun_create_ctx returned -12 (ENOMEM"),
                Arguments.of("krun_create_ctx:5", "libkrun could not create a VM context [krun_create_ctx returned -5 (EIO"),
                Arguments.of("krun_set_vm_config:22", "libkrun refused 1 vCPUs with 512 MiB of memory"),
                Arguments.of("krun_set_kernel:22", "libkrun refused the kernel /img/vmlinux (ELF vmlinux) or its command line"),
                Arguments.of("krun_set_kernel:95", "cannot boot an external kernel"),
                Arguments.of("krun_add_disk2:95", "built without block-device support (BLK=1)"),
                Arguments.of("krun_add_disk2:22", "libkrun refused a disk (/img/rootfs.ext4 or "),
                Arguments.of("krun_add_vsock_port2:17", "already exists: another VM may still run"),
                Arguments.of("krun_add_vsock_port2:19", "vsock is disabled in this libkrun context"),
                Arguments.of("krun_add_vsock_port2:5", "libkrun refused the agent's vsock port 1024"),
                Arguments.of("krun_add_vsock:22", "would not replace its implicit vsock device with one without TSI"),
                Arguments.of("krun_set_console_output:22", "libkrun refused the console file"),
                Arguments.of("krun_set_rlimits:22", "libkrun refused the guest rlimits [6=1024:1024]"),
                Arguments.of("krun_set_env:22", "libkrun refused the guest environment"),
                Arguments.of("krun_start_enter:2", "libkrun could not find what the VM needs: a file the configuration names"
                        + " (/img/vmlinux, /img/rootfs.ext4, "),
                Arguments.of("krun_start_enter:13", "permission denied starting the VM: /nonexistent/kvm or a disk"),
                Arguments.of("krun_start_enter:1", "permission denied starting the VM: /nonexistent/kvm or a disk"),
                Arguments.of("krun_start_enter:22", "no access to /nonexistent/kvm: libkrun needs KVM"),
                Arguments.of("krun_start_enter:16", "libkrun could not build the VM; runner.log has its reason [krun_start_enter returned -16 (EBUSY"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("errnoTable")
    void everyFailureReadsAsItsRowSays(String failure, String message) throws Exception {
        var out = run(config(full, 1, List.of("6=1024:1024"), Path.of("/nonexistent/kvm")),
                Map.of(KrunDouble.FAIL_ENV, failure, KrunDouble.QEMU_ENV, "/bin/true"));
        assertEquals(VmRunner.EXIT_KRUN_FAILED, out.status(), out.stderr());
        assertTrue(out.stderr().contains(VmRunner.ERROR_PREFIX), out.stderr());
        assertTrue(out.stderr().contains(message), "expected \"" + message + "\" in: " + out.stderr());
        String call = failure.substring(0, failure.indexOf(':'));
        String errno = failure.substring(failure.indexOf(':') + 1);
        assertTrue(out.calls().stream().anyMatch(c -> c.startsWith(call + "(") && c.endsWith(" = -" + errno)), out.calls().toString());
        if (!call.equals("krun_create_ctx") && !call.equals("krun_start_enter")) {
            assertEquals("krun_free_ctx(0) = 0", out.calls().getLast(), "a context whose configuration failed is freed");
        }
    }

    @Test
    void aStartFailureWithUsableKvmPointsAtLibkrunsLog() throws Exception {
        Path kvm = Files.writeString(work.resolve("kvm"), "");
        var out = run(config(full, 1, List.of(), kvm), Map.of(KrunDouble.FAIL_ENV, "krun_start_enter:22"));
        assertEquals(VmRunner.EXIT_KRUN_FAILED, out.status());
        assertTrue(out.stderr().contains("libkrun could not build the VM; runner.log has its reason [krun_start_enter returned -22 (EINVAL"),
                out.stderr());
    }
}
