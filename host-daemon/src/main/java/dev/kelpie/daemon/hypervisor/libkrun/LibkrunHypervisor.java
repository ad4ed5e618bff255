package dev.kelpie.daemon.hypervisor.libkrun;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.hypervisor.GuestShutdown;
import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmLogs;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.VmProcess;
import dev.kelpie.daemon.hypervisor.VmRecord;
import dev.kelpie.daemon.hypervisor.VmSpec;
import dev.kelpie.daemon.hypervisor.WritableDisk;
import dev.kelpie.runner.RunnerConfig;
import dev.kelpie.runner.VmRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * Runs each VM through libkrun in a runner process of its own (ADR 0021): the daemon writes {@code runner.json}, starts
 * the runner in its own session with its output on {@code runner.log}, and the VM is up once libkrun has created the
 * agent's socket, which it does only after the guest's vsock device came up. A runner that ends before that failed to
 * configure or enter the VM; its last {@code error:} line says why, in the words of the runner's errno table.
 */
public final class LibkrunHypervisor implements Hypervisor {

    static final String NAME = "libkrun";
    /** The guest port the agent listens on by default (guest-agent's {@code DEFAULT_VSOCK_PORT}). */
    static final int AGENT_VSOCK_PORT = 1024;
    /** libkrun builds a VM in well under a second under KVM; a loaded host, or the test double's TCG, takes longer. */
    static final Duration SETUP_TIMEOUT = Duration.ofSeconds(30);
    static final Duration SETUP_POLL_INTERVAL = Duration.ofMillis(20);
    private static final int RUNNER_LOG_TAIL_LINES = 20;

    private final LibkrunSettings settings;
    private final RunnerLauncher launcher;
    private final GuestShutdown guestShutdown;
    private final ObjectMapper json;
    private final boolean macOs;
    private final String hostArch;

    /** @param hostArch the host's architecture, the only one libkrun runs */
    public LibkrunHypervisor(LibkrunSettings settings, RunnerLauncher launcher, GuestShutdown guestShutdown,
            ObjectMapper json, boolean macOs, String hostArch) {
        this.settings = settings;
        this.launcher = launcher;
        this.guestShutdown = guestShutdown;
        this.json = json;
        this.macOs = macOs;
        this.hostArch = hostArch;
    }

    @Override
    public String name() {
        return NAME;
    }

    /**
     * libkrun's networking cannot enforce an allowlist (TSI hands the guest the host's sockets and needs libkrunfw's
     * patched kernel; passt NATs everything), and the guest-side relay over vsock ports that would is not built yet
     * (ADR 0022).
     */
    @Override
    public Optional<String> networkUnsupportedReason(boolean egress) {
        return Optional.of("the libkrun backend gives sandboxes no network yet (only network mode none without"
                + " published ports); run kelpied --backend=qemu for egress and port forwards");
    }

    /** libkrun runs the guest on the host's CPU through KVM or HVF: it has no emulator for another architecture. */
    @Override
    public Optional<String> archUnavailableReason(String arch) {
        if (!arch.equals(hostArch)) {
            return Optional.of("the libkrun backend runs only guests of the host's architecture (" + hostArch
                    + "), not " + arch + "; run kelpied --backend=qemu, which emulates " + arch);
        }
        return Optional.empty();
    }

    @Override
    public Optional<String> pauseUnsupportedReason() {
        return Optional.of("libkrun 1.x has no control channel to stop a VM's vCPUs or save its state (sandbox on the"
                + " libkrun backend); use idle_action delete or none, or run kelpied --backend=qemu");
    }

    @Override
    public VmHandle boot(VmSpec spec) throws InterruptedException {
        if (spec.network().hasDevice()) {
            throw new VmOperationUnsupportedException(networkUnsupportedReason(spec.network().egressSocket() != null)
                    .orElseThrow());
        }
        LibkrunRuntimeFiles files = new LibkrunRuntimeFiles(spec.runtimeDir());
        Process runner;
        try {
            Files.createDirectories(files.dir());
            WritableDisk.create(spec, files.writableDisk());
            Files.deleteIfExists(files.agentSocket());
            Files.deleteIfExists(files.runnerLog());
            runnerConfig(spec, files).write(files.runnerConfig(), json);
            runner = launcher.start(files.runnerConfig(), files.runnerLog(), settings.libraryPath(), macOs);
            Files.writeString(files.pidFile(), Long.toString(runner.pid()));
        } catch (IllegalArgumentException e) {
            throw new VmException("libkrun cannot run this VM: " + e.getMessage(), e);
        } catch (IOException e) {
            killLeftovers(files.dir());
            throw new VmException("starting the libkrun runner in " + files.dir() + " failed: " + e.getMessage(), e);
        }
        try {
            awaitVmUp(runner, files);
        } catch (VmException | InterruptedException e) {
            runner.destroyForcibly();
            runner.waitFor(VmProcess.KILL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            throw e;
        }
        ProcessIdentity identity = ProcessIdentity.of(runner.pid())
                .orElseThrow(() -> new VmException("the libkrun runner (pid " + runner.pid() + ") ended right after setup: "
                        + runnerFailure(files, -1)));
        VmRecord record = new VmRecord(NAME, spec.vmId(), runner.pid(), identity.startMillis(),
                settings.accelerator().qemuName(), files.dir(), files.agentSocket(), null, files.consoleLog(),
                java.util.List.of(), identity.bootStart());
        return new LibkrunVm(record, runner.toHandle(), guestShutdown);
    }

    RunnerConfig runnerConfig(VmSpec spec, LibkrunRuntimeFiles files) {
        // No rlimits: libkrun applies them only through its own init, and Kelpie's agent is the guest's init (it limits
        // user processes with cgroups). The guest init's environment is empty, never the host's.
        return new RunnerConfig(settings.library(), settings.logLevel(), spec.image().arch(), spec.vcpuCount(),
                spec.memoryMib(), spec.image().kernel(), LibkrunKernelCmdline.of(spec.image().kernelCmdline()),
                spec.image().rootfs(), files.writableDisk(), AGENT_VSOCK_PORT, files.agentSocket(), files.consoleLog(),
                List.of(), List.of(), settings.kvmDevice());
    }

    /** Waits until libkrun created the agent's socket (the VM is built and its guest booting), or the runner ended. */
    private static void awaitVmUp(Process runner, LibkrunRuntimeFiles files) throws InterruptedException {
        long deadline = System.nanoTime() + SETUP_TIMEOUT.toNanos();
        while (!Files.exists(files.agentSocket())) {
            if (runner.waitFor(SETUP_POLL_INTERVAL.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new VmException(runnerFailure(files, runner.exitValue()));
            }
            if (System.nanoTime() > deadline) {
                throw new VmException("the libkrun runner did not bring the VM up within " + SETUP_TIMEOUT.toSeconds()
                        + " s (no agent socket " + files.agentSocket() + "); runner.log: " + runnerLogTail(files));
            }
        }
    }

    /** The runner's own explanation when it gave one, else its status and log. */
    private static String runnerFailure(LibkrunRuntimeFiles files, int status) {
        String log = VmLogs.readQuietly(files.runnerLog());
        Optional<String> error = log.lines().filter(l -> l.startsWith(VmRunner.ERROR_PREFIX))
                .map(l -> l.substring(VmRunner.ERROR_PREFIX.length())).reduce((first, second) -> second);
        if (error.isPresent()) {
            return "libkrun: " + error.get();
        }
        return "the libkrun runner exited" + (status >= 0 ? " with status " + status : "") + " before the VM came up;"
                + " runner.log: " + runnerLogTail(files);
    }

    private static String runnerLogTail(LibkrunRuntimeFiles files) {
        List<String> lines = VmLogs.readQuietly(files.runnerLog()).strip().lines().toList();
        String tail = String.join("\n", lines.subList(Math.max(0, lines.size() - RUNNER_LOG_TAIL_LINES), lines.size()));
        return tail.isEmpty() ? "(empty)" : tail;
    }

    @Override
    public VmHandle restore(VmSpec spec, SavedVmState state) {
        throw new VmOperationUnsupportedException("libkrun 1.x cannot load a saved VM state; restore a checkpoint package"
                + " on this daemon, or the vm package on a daemon running the qemu backend");
    }

    /** libkrun 1.x has no version call; its VMs cannot be saved, so the platform only labels checkpoint packages. */
    @Override
    public VmPlatform platform(String arch) {
        return new VmPlatform(NAME, "1", "krun", "host", arch);
    }

    @Override
    public Optional<VmHandle> adopt(VmRecord record) {
        if (!record.hypervisor().equals(NAME)) {
            return Optional.empty();
        }
        return record.process().live()
                .map(process -> new LibkrunVm(record, process, guestShutdown));
    }

    /**
     * Kills the runner of {@code runtimeDir} and waits until it is gone: the process its pid file names, if that
     * process names the directory's {@code runner.json} on its command line (a recycled pid names something else).
     * Without a pid file (the daemon died between starting a runner and writing it) every process is looked at.
     */
    @Override
    public void killLeftovers(Path runtimeDir) {
        LibkrunRuntimeFiles files = new LibkrunRuntimeFiles(runtimeDir);
        if (!Files.exists(files.runnerConfig())) {
            return;
        }
        String config = files.runnerConfig().toString();
        Stream<ProcessHandle> candidates;
        try {
            candidates = ProcessHandle.of(Long.parseLong(Files.readString(files.pidFile()).strip())).stream();
        } catch (IOException | NumberFormatException e) {
            candidates = ProcessHandle.allProcesses();
        }
        candidates.filter(p -> p.info().arguments().map(args -> List.of(args).contains(config)).orElse(false))
                .forEach(LibkrunHypervisor::killAndAwait);
    }

    private static void killAndAwait(ProcessHandle runner) {
        runner.destroyForcibly();
        try {
            runner.onExit().get(VmProcess.KILL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // Reported by whoever finds the process later; a runner that survives SIGKILL is beyond the daemon.
        }
    }
}
