package dev.kelpie.daemon.hypervisor.qemu;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.SparseFiles;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmRecord;
import dev.kelpie.daemon.hypervisor.VmSpec;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Runs each VM in its own qemu process, started with {@code -daemonize}: qemu detaches into its own session once the
 * VM is set up, so it survives the daemon (and its signals), and the exit of the starting process tells whether the
 * setup worked. Its stdio goes to {@code qemu.log} in the runtime directory, the console to {@code console.log}.
 */
public final class QemuHypervisor implements Hypervisor {

    static final String NAME = "qemu";
    /** qemu sets up a VM in well under a second; a loaded 2-core host under TCG can take several. */
    static final Duration SETUP_TIMEOUT = Duration.ofSeconds(30);

    private final Function<String, String> binaryForArch;
    private final Supplier<Accelerator> accelerator;
    private final ObjectMapper json;

    /**
     * @param binaryForArch qemu-system binary for a guest arch
     * @param accelerator the accelerator proven to boot a kernel here; asked at each boot, since probing ends
     *     after startup
     */
    public QemuHypervisor(Function<String, String> binaryForArch, Supplier<Accelerator> accelerator, ObjectMapper json) {
        this.binaryForArch = binaryForArch;
        this.accelerator = accelerator;
        this.json = json;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public VmHandle boot(VmSpec spec) throws InterruptedException {
        Path dir = spec.runtimeDir();
        Accelerator accel = accelerator.get();
        try {
            Files.createDirectories(dir);
            Path writable = dir.resolve("rw.ext4");
            SparseFiles.copy(spec.image().diskTemplate(), writable);
            QemuVmSpec qemuSpec = new QemuVmSpec(spec.image().arch(), accel, spec.vcpuCount(), spec.memoryMib(),
                    spec.image().kernel(), spec.image().kernelCmdline(), spec.image().rootfs(), writable,
                    dir.resolve("agent.sock"), dir.resolve("qmp.sock"), dir.resolve("console.log"), dir.resolve("qemu.pid"));
            List<String> argv = new ArrayList<>(QemuCommandLine.build(binaryForArch.apply(spec.image().arch()), qemuSpec));
            argv.add("-daemonize");
            Path log = dir.resolve("qemu.log");
            Process starter = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
            if (!starter.waitFor(SETUP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                starter.destroyForcibly();
                killLeftovers(dir);
                throw new VmException("qemu did not finish setting up the VM within " + SETUP_TIMEOUT.toSeconds() + " s: "
                        + readQuietly(log));
            }
            if (starter.exitValue() != 0) {
                throw new VmException("qemu exited with status " + starter.exitValue() + ": " + readQuietly(log).strip());
            }
            long pid = Long.parseLong(Files.readString(qemuSpec.pidFile()).strip());
            ProcessIdentity identity = ProcessIdentity.of(pid)
                    .orElseThrow(() -> new VmException("qemu (pid " + pid + ") ended right after setup: " + readQuietly(log)));
            VmRecord record = new VmRecord(NAME, spec.vmId(), pid, identity.startMillis(), accel.qemuName(), dir,
                    qemuSpec.agentSocket(), qemuSpec.qmpSocket(), qemuSpec.consoleLog());
            return new QemuVm(record, identity.live().orElseThrow(() -> new VmException("qemu pid " + pid + " vanished")),
                    json, accel.qemuName());
        } catch (IOException e) {
            killLeftovers(dir);
            throw new VmException("starting qemu in " + dir + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public VmHandle restore(VmSpec spec, SavedVmState state) throws InterruptedException {
        throw new VmException("qemu restore: not built yet");
    }

    @Override
    public VmPlatform platform(String arch) {
        throw new VmException("qemu platform: not built yet");
    }

    @Override
    public Optional<VmHandle> adopt(VmRecord record) {
        if (!record.hypervisor().equals(NAME)) {
            return Optional.empty();
        }
        return new ProcessIdentity(record.pid(), record.processStartMillis()).live()
                .map(process -> new QemuVm(record, process, json, record.accelerator()));
    }

    @Override
    public void killLeftovers(Path runtimeDir) {
        Path pidFile = runtimeDir.resolve("qemu.pid");
        if (!Files.isRegularFile(pidFile)) {
            return;
        }
        try {
            long pid = Long.parseLong(Files.readString(pidFile).strip());
            ProcessHandle.of(pid).filter(p -> p.info().arguments().map(args -> String.join(" ", args))
                    .map(cmd -> cmd.contains(pidFile.toString())).orElse(false)).ifPresent(ProcessHandle::destroyForcibly);
        } catch (IOException | NumberFormatException e) {
            // No readable pid: qemu never got as far as writing it, so there is nothing to kill.
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "(no output: " + e.getMessage() + ")";
        }
    }
}
