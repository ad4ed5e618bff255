package dev.kelpie.daemon.hypervisor.qemu;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.hypervisor.Executables;
import dev.kelpie.daemon.hypervisor.Hypervisor;
import dev.kelpie.daemon.hypervisor.ProcessIdentity;
import dev.kelpie.daemon.hypervisor.SavedVmState;
import dev.kelpie.daemon.hypervisor.SparseFiles;
import dev.kelpie.daemon.hypervisor.WritableDisk;
import dev.kelpie.daemon.hypervisor.VmException;
import dev.kelpie.daemon.hypervisor.VmHandle;
import dev.kelpie.daemon.hypervisor.VmOperationUnsupportedException;
import dev.kelpie.daemon.hypervisor.VmLogs;
import dev.kelpie.daemon.hypervisor.VmPlatform;
import dev.kelpie.daemon.hypervisor.VmProcess;
import dev.kelpie.daemon.hypervisor.VmRecord;
import dev.kelpie.daemon.hypervisor.VmSpec;
import dev.kelpie.daemon.hypervisor.probe.QemuMachine;
import dev.kelpie.daemon.network.HostPortUnavailableException;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.probe.CommandRunner;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Runs each VM in its own qemu process, started with {@code -daemonize}: qemu detaches into its own session once the
 * VM is set up, so it survives the daemon (and its signals), and the exit of the starting process tells whether the
 * setup worked. Its stdio, and what it reports later, goes to {@code qemu.log} in the runtime directory, the console to
 * {@code console.log}.
 * {@link #restore} starts the same command line waiting for a saved state ({@link QemuStateSave} writes one).
 */
public final class QemuHypervisor implements Hypervisor {

    static final String NAME = "qemu";
    /** qemu sets up a VM in well under a second; a loaded 2-core host under TCG can take several. */
    static final Duration SETUP_TIMEOUT = Duration.ofSeconds(30);
    /** What qemu says when it cannot bind a {@code hostfwd} port. */
    private static final String HOSTFWD_FAILURE = "host forwarding rule";
    /** Frozen package memory in the RAM directory: {@code pkg-SHA256.ram} and {@code .state}. */
    static final String PACKAGE_MEMORY_PREFIX = "pkg-";
    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(QemuHypervisor.class);

    private final String hostArch;
    private final Function<String, String> binaryForArch;
    private final Supplier<Accelerator> accelerator;
    private final ObjectMapper json;
    private final QemuVersions versions = new QemuVersions(new CommandRunner());
    private final QemuRamCapabilities ramCapabilities = new QemuRamCapabilities(new CommandRunner());
    private final Optional<EgressRelay> egressRelay = EgressRelay.onPath();
    private final QemuRamFiles ram;

    /** VMs on anonymous memory, which cannot be forked. */
    public QemuHypervisor(String hostArch, Function<String, String> binaryForArch, Supplier<Accelerator> accelerator,
            ObjectMapper json) {
        this(hostArch, binaryForArch, accelerator, json, null);
    }

    /**
     * @param hostArch the host's architecture: guests of another run under TCG whatever {@code accelerator} says
     * @param binaryForArch qemu-system binary for a guest arch
     * @param accelerator the accelerator proven to boot a kernel of the host's arch here; asked at each boot, since
     *     probing ends after startup
     * @param ram where guest RAM lives as files, which local snapshots freeze and clones map; null for anonymous
     *     memory
     */
    public QemuHypervisor(String hostArch, Function<String, String> binaryForArch, Supplier<Accelerator> accelerator,
            ObjectMapper json, QemuRamFiles ram) {
        this.hostArch = hostArch;
        this.binaryForArch = binaryForArch;
        this.accelerator = accelerator;
        this.json = json;
        this.ram = ram;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> networkUnsupportedReason(boolean egress) {
        if (egress && egressRelay.isEmpty()) {
            return Optional.of("egress on the qemu backend needs " + EgressRelay.PROGRAM + " on the daemon's PATH"
                    + " (apt install socat, brew install socat)");
        }
        return Optional.empty();
    }

    /** Any architecture whose qemu-system binary is here; the host's own is proven by the startup probe. */
    @Override
    public Optional<String> archUnavailableReason(String arch) {
        String binary = binaryForArch.apply(arch);
        if (!arch.equals(hostArch) && Executables.find(binary).isEmpty()) {
            return Optional.of(arch + " guests on this " + hostArch + " host need " + binary + " on the daemon's PATH"
                    + " (apt install " + QemuMachine.forArch(arch).debianPackage() + ", brew install qemu)");
        }
        return Optional.empty();
    }

    /**
     * The host's arch gets the accelerator the probe proved; another arch cannot use KVM or HVF (they run only the
     * host's CPU), so its CPU is emulated.
     */
    private Accelerator acceleratorFor(String arch) {
        return arch.equals(hostArch) ? accelerator.get() : Accelerator.TCG;
    }

    @Override
    public VmHandle boot(VmSpec spec) throws InterruptedException {
        QemuRuntimeFiles files = new QemuRuntimeFiles(spec.runtimeDir());
        try {
            Files.createDirectories(files.dir());
            WritableDisk.create(spec, files.writableDisk());
            return launch(spec, files, acceleratorFor(spec.image().arch()), false, ownRam(spec), QemuRamMapping.OWNED);
        } catch (IOException e) {
            throw new VmException("preparing " + files.dir() + " for qemu failed: " + e.getMessage(), e);
        }
    }

    /**
     * Starts qemu with the boot command line plus {@code -incoming defer}, then feeds it the memory file over QMP.
     * On failure qemu is killed; the runtime directory, with the state's disk moved into it, is the caller's to
     * remove.
     */
    @Override
    public VmHandle restore(VmSpec spec, SavedVmState state) throws InterruptedException {
        Accelerator accel = acceleratorFor(spec.image().arch());
        VmPlatform here = platform(spec.image().arch(), accel);
        if (!state.platform().equals(here)) {
            throw new VmException("the saved state " + state.memoryFile() + " needs " + describe(state.platform())
                    + ", but VMs here run on " + describe(here));
        }
        if (!Files.isReadable(state.memoryFile())) {
            throw new VmException("the saved state's memory file " + state.memoryFile() + " is missing or unreadable");
        }
        QemuRuntimeFiles files = new QemuRuntimeFiles(spec.runtimeDir());
        boolean mapped = state.sharedRam().isPresent();
        if (mapped && ram == null) {
            throw new VmOperationUnsupportedException("the saved state " + state.memoryFile() + " maps its RAM from "
                    + state.sharedRam().get() + ", but this daemon runs qemu VMs on anonymous memory");
        }
        try {
            Files.createDirectories(files.dir());
            moveOrCopy(state.diskFile(), files.writableDisk());
        } catch (IOException e) {
            throw new VmException("moving the saved disk " + state.diskFile() + " into " + files.dir() + " failed: "
                    + e.getMessage(), e);
        }
        if (!mapped && ram != null && !state.memoryKey().isEmpty()) {
            try {
                state = freezeMemory(spec, files, accel, state);
                mapped = true;
            } catch (VmException e) {
                // The full load below still works; only the next restore of this memory is not faster.
                LOG.warnf("freezing the memory of %s for later restores failed, restoring it in full: %s",
                        state.memoryFile(), e.getMessage());
            }
        }
        QemuRamMapping mapping = mapped && ramCapabilities.privateReadOnlyFile(binaryForArch.apply(spec.image().arch()))
                ? QemuRamMapping.PRIVATE_READ_ONLY_FILE : QemuRamMapping.OWNED;
        Path ramFile;
        try {
            // Without a read-only private mapping a clone must own a copy: see QemuRamFiles.copyOf.
            ramFile = !mapped ? ownRam(spec) : mapping == QemuRamMapping.PRIVATE_READ_ONLY_FILE
                    ? ram.linkTo(spec.vmId(), state.sharedRam().get()) : ram.copyOf(spec.vmId(), state.sharedRam().get());
        } catch (IOException e) {
            throw new VmException("preparing the RAM of " + spec.vmId() + " in " + ram.dir() + " failed: "
                    + e.getMessage(), e);
        }
        QemuVm vm = launch(spec, files, accel, true, ramFile, mapping);
        try {
            QmpClient qmp = new QmpClient(files.qmpSocket(), json);
            if (mapped) {
                // The stream has no RAM pages: the clone starts from the frozen snapshot (its view or its copy of it).
                qmp.execute("migrate-set-capabilities", Map.of("capabilities",
                        List.of(Map.of("capability", QemuMigration.IGNORE_SHARED, "state", true))));
            }
            qmp.execute("migrate-incoming", Map.of("uri", QemuMigration.loadUri(state.memoryFile())));
            QemuMigration.awaitCompleted(qmp, QemuMigration.MIGRATION_TIMEOUT, vm::isAlive);
            // A state saved from stopped vCPUs (as saveState does) loads into a paused VM: qemu starts on its own
            // only when the source ran.
            if (!qmp.execute("query-status").path("running").asBoolean()) {
                qmp.execute("cont");
            }
            return vm;
        } catch (VmException e) {
            killAndAwait(vm, files);
            throw new VmException("restoring " + spec.vmId() + " from " + state.memoryFile() + " failed: "
                    + e.getMessage() + "; qemu.log: " + readQuietly(files.qemuLog()).strip(), e);
        } catch (InterruptedException e) {
            killAndAwait(vm, files);
            throw e;
        }
    }

    /**
     * Turns a full state into a frozen one that every later restore of the same memory maps: a qemu of the same shape
     * loads the stream into a {@code share=on} RAM file and, paused and never run, saves its device state alone
     * ({@code x-ignore-shared}); it is then killed and its RAM file frozen by a sparse copy (the load allocated every
     * page, zero or not). Named {@code pkg-KEY}; files of two restores racing are equivalent, the last one stays.
     */
    private SavedVmState freezeMemory(VmSpec spec, QemuRuntimeFiles files, Accelerator accel, SavedVmState full)
            throws InterruptedException {
        String name = PACKAGE_MEMORY_PREFIX + full.memoryKey();
        String making = name + "-" + spec.vmId();
        Path statePartial = ram.stateOf(making);
        try {
            QemuVm maker = launch(spec, files, accel, true, ram.fresh(making), QemuRamMapping.OWNED);
            try {
                QmpClient qmp = new QmpClient(files.qmpSocket(), json);
                qmp.execute("migrate-incoming", Map.of("uri", QemuMigration.loadUri(full.memoryFile())));
                QemuMigration.awaitCompleted(qmp, QemuMigration.MIGRATION_TIMEOUT, maker::isAlive);
                qmp.execute("migrate-set-capabilities", Map.of("capabilities",
                        List.of(Map.of("capability", QemuMigration.IGNORE_SHARED, "state", true))));
                qmp.execute("migrate", Map.of("uri", QemuMigration.saveUri(statePartial)));
                QemuMigration.awaitCompleted(qmp, QemuMigration.MIGRATION_TIMEOUT, maker::isAlive);
            } finally {
                killAndAwait(maker, files);
            }
            QemuMigration.awaitWriters(statePartial, QemuStateSave.WRITER_EXIT_TIMEOUT);
            if (!Files.isRegularFile(statePartial)) {
                throw new VmException("writing the device state " + statePartial + " failed");
            }
            Path frozen = ram.freeze(making, name);
            Files.move(statePartial, ram.stateOf(name), StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
            LOG.infof("memory %s frozen as %s: later restores of it map it", full.memoryFile(), frozen);
            return new SavedVmState(ram.stateOf(name), full.diskFile(), full.platform(), Optional.of(frozen),
                    full.memoryKey());
        } catch (IOException e) {
            throw new VmException("freezing " + full.memoryFile() + " into " + ram.dir() + " failed: " + e.getMessage(), e);
        } finally {
            ram.delete(making);
        }
    }

    @Override
    public Optional<SavedVmState> frozenMemory(String memoryKey, Path disk, VmPlatform platform) {
        if (ram == null) {
            return Optional.empty();
        }
        String name = PACKAGE_MEMORY_PREFIX + memoryKey;
        Path frozen = ram.of(name);
        Path state = ram.stateOf(name);
        return Files.isRegularFile(frozen) && Files.isRegularFile(state)
                ? Optional.of(new SavedVmState(state, disk, platform, Optional.of(frozen), memoryKey))
                : Optional.empty();
    }

    @Override
    public void forgetMemory(String memoryKey) {
        if (ram != null) {
            ram.delete(PACKAGE_MEMORY_PREFIX + memoryKey);
        }
    }

    @Override
    public VmPlatform platform(String arch) {
        return platform(arch, acceleratorFor(arch));
    }

    private VmPlatform platform(String arch, Accelerator accel) {
        return QemuCommandLine.platform(versions.of(binaryForArch.apply(arch)), arch, accel);
    }

    private static String describe(VmPlatform p) {
        return p.describeHypervisor() + " with machine " + p.machineType() + ", cpu " + p.cpuModel() + " (" + p.arch() + ")";
    }

    /**
     * A rename when the saved disk is on the runtime directory's filesystem (the common case: no bytes move), else a
     * sparse copy: the JDK's cross-filesystem move would fill the disk's holes.
     */
    private static void moveOrCopy(Path source, Path target) throws IOException, InterruptedException {
        try {
            Files.move(source, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            SparseFiles.copy(source, target);
            Files.delete(source);
        }
    }

    /**
     * Runs qemu for {@code spec} with {@code -daemonize} and returns once it has set the VM up: booting, or with
     * {@code incoming} waiting for a saved state.
     */
    private QemuVm launch(VmSpec spec, QemuRuntimeFiles files, Accelerator accel, boolean incoming, Path ramFile,
            QemuRamMapping ramMapping) throws InterruptedException {
        Path dir = files.dir();
        Path log = files.qemuLog();
        try {
            QemuVmSpec qemuSpec = new QemuVmSpec(spec.image().arch(), accel, spec.vcpuCount(), spec.memoryMib(),
                    spec.image().kernel(), spec.image().kernelCmdline(), spec.image().rootfs(), files.writableDisk(),
                    files.agentSocket(), files.qmpSocket(), files.consoleLog(), files.pidFile(), log, spec.network(),
                    egressRelay.orElse(null), ramFile, ramMapping);
            String binary = binaryForArch.apply(spec.image().arch());
            List<String> argv = new ArrayList<>(incoming ? QemuCommandLine.incoming(binary, qemuSpec)
                    : QemuCommandLine.build(binary, qemuSpec));
            argv.add("-daemonize");
            // Appended, not truncated: the daemonized qemu opens the same file (-D) and writes there after this
            // process has ended. A new file per launch, so that an error shows only this qemu's messages.
            Files.deleteIfExists(log);
            Process starter = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
            if (!starter.waitFor(SETUP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                starter.destroyForcibly();
                killLeftovers(dir);
                throw new VmException("qemu did not finish setting up the VM within " + SETUP_TIMEOUT.toSeconds() + " s: "
                        + readQuietly(log));
            }
            if (starter.exitValue() != 0) {
                String said = readQuietly(log).strip();
                if (said.contains(HOSTFWD_FAILURE)) {
                    // Another process took a published port between the daemon's check and qemu's bind.
                    throw new HostPortUnavailableException("a published host port is taken: qemu says " + said);
                }
                throw new VmException("qemu exited with status " + starter.exitValue() + ": " + said);
            }
            long pid = Long.parseLong(Files.readString(files.pidFile()).strip());
            ProcessIdentity identity = ProcessIdentity.of(pid)
                    .orElseThrow(() -> new VmException("qemu (pid " + pid + ") ended right after setup: " + readQuietly(log)));
            VmRecord record = new VmRecord(NAME, spec.vmId(), pid, identity.startMillis(), accel.qemuName(), dir,
                    files.agentSocket(), files.qmpSocket(), files.consoleLog(), spec.network().forwards(),
                    identity.bootStart());
            return new QemuVm(record, identity.live().orElseThrow(() -> new VmException("qemu pid " + pid + " vanished")),
                    json, accel.qemuName(), ramFile == null ? null : ram);
        } catch (IOException e) {
            killLeftovers(dir);
            throw new VmException("starting qemu in " + dir + " failed: " + e.getMessage(), e);
        }
    }

    /** Kills a qemu that failed to load its state, and waits so that no process is left when the caller hears of it. */
    private void killAndAwait(QemuVm vm, QemuRuntimeFiles files) throws InterruptedException {
        vm.kill();
        killLeftovers(files.dir());
        try {
            vm.exited().get(VmProcess.KILL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            // Reported by the caller's error either way; a qemu that survives SIGKILL is beyond this daemon.
        }
    }

    @Override
    public Optional<VmHandle> adopt(VmRecord record) {
        if (!record.hypervisor().equals(NAME)) {
            return Optional.empty();
        }
        // A VM of a daemon before RAM files runs on anonymous memory: it works on, but cannot be forked.
        QemuRamFiles its = ram != null && Files.exists(ram.of(record.vmId())) ? ram : null;
        return record.process().live()
                .map(process -> new QemuVm(record, process, json, record.accelerator(), its));
    }

    /** A new RAM file the VM owns and writes through to, or null without a RAM directory. */
    private Path ownRam(VmSpec spec) throws IOException {
        return ram == null ? null : ram.fresh(spec.vmId());
    }

    /** Also removes the VM's RAM file: a VM that is gone for good never needs it again. */
    @Override
    public void killLeftovers(Path runtimeDir) {
        killLeftoverProcess(runtimeDir);
        if (ram != null) {
            ram.delete(runtimeDir.getFileName().toString());
        }
    }

    @Override
    public void releaseMemory(String vmId) {
        if (ram != null) {
            ram.delete(vmId);
        }
    }

    @Override
    public void removeOrphanMemory(Set<String> vmIds) {
        if (ram != null) {
            ram.sweep(vmIds);
        }
    }

    private void killLeftoverProcess(Path runtimeDir) {
        Path pidFile = new QemuRuntimeFiles(runtimeDir).pidFile();
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

    /** What qemu wrote to {@code file}, for an error message. */
    private static String readQuietly(Path file) {
        String text = VmLogs.readQuietly(file);
        return text.isBlank() ? "(qemu logged nothing)" : text;
    }
}
