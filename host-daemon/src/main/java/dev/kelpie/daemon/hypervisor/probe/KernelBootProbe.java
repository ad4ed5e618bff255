package dev.kelpie.daemon.hypervisor.probe;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Proves an accelerator by booting a real Linux kernel on it and waiting for the kernel's banner on the serial
 * console. On some hosts {@code /dev/kvm} opens and tiny test code runs, yet a Linux guest hangs without a word;
 * only this catches that.
 */
public final class KernelBootProbe implements BootProbe {

    /** The first line a Linux kernel prints once its console is up. */
    static final String KERNEL_BANNER = "Linux version";

    private final Duration timeout;

    public KernelBootProbe(Duration timeout) {
        this.timeout = timeout;
    }

    @Override
    public ProbeResult boot(String qemuBinary, QemuMachine machine, Accelerator accelerator, Path kernel) {
        List<String> command = new ArrayList<>(List.of(qemuBinary, "-accel", accelerator.qemuName(),
                "-M", machine.probeMachine(accelerator), "-m", "128", "-smp", "1", "-nodefaults", "-no-user-config",
                "-nographic", "-no-reboot", "-serial", "stdio", "-kernel", kernel.toString(),
                "-append", "console=" + machine.consoleDevice() + " panic=-1 reboot=t"
                        + machine.probeKernelArgs(accelerator)));
        command.addAll(machine.cpuArgs(accelerator));
        long startNanos = System.nanoTime();
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        } catch (IOException e) {
            return ProbeResult.unavailable("cannot start " + qemuBinary + ": " + e.getMessage());
        }
        CompletableFuture<List<String>> banner = CompletableFuture.supplyAsync(() -> readUntilBanner(process),
                Thread::startVirtualThread);
        try {
            List<String> lines = banner.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            Duration took = Duration.ofNanos(System.nanoTime() - startNanos);
            if (!lines.isEmpty() && lines.getLast().contains(KERNEL_BANNER)) {
                return new ProbeResult(ProbeStatus.AVAILABLE, "booted a Linux kernel in " + took.toMillis() + " ms", took);
            }
            return new ProbeResult(ProbeStatus.UNAVAILABLE, "qemu exited before the kernel printed anything: "
                    + tail(lines), took);
        } catch (TimeoutException e) {
            return new ProbeResult(ProbeStatus.UNAVAILABLE, "a Linux kernel printed nothing within "
                    + timeout.toMillis() + " ms (the device exists but cannot run Linux guests)", timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return ProbeResult.untested("probe interrupted");
        } catch (ExecutionException e) {
            return ProbeResult.unavailable("probe failed: " + e.getCause());
        } finally {
            process.destroyForcibly();
            try {
                process.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static List<String> readUntilBanner(Process process) {
        List<String> lines = new ArrayList<>();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                lines.add(line);
                if (line.contains(KERNEL_BANNER)) {
                    break;
                }
            }
        } catch (IOException e) {
            // The process was killed: what was read so far is the answer.
        }
        return lines;
    }

    private static String tail(List<String> lines) {
        List<String> last = lines.subList(Math.max(0, lines.size() - 3), lines.size());
        return last.isEmpty() ? "(no output)" : String.join(" | ", last);
    }
}
