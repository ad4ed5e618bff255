package dev.kelpie.daemon.hypervisor.probe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Finds the qemu-system binary for the host's architecture, reads its version and compiled-in accelerators, and
 * proves each accelerator by booting a kernel when one is configured.
 */
public final class QemuProbe {

    static final String BACKEND_NAME = "qemu";
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(10);
    private static final Pattern VERSION = Pattern.compile("QEMU emulator version (\\S+)");

    private final CommandRunner commands;
    private final BootProbe bootProbe;
    private final ProbeCache cache;
    private final HostPlatform platform;
    private final Path devKvm;

    public QemuProbe(CommandRunner commands, BootProbe bootProbe, ProbeCache cache, HostPlatform platform, Path devKvm) {
        this.commands = commands;
        this.bootProbe = bootProbe;
        this.cache = cache;
        this.platform = platform;
        this.devKvm = devKvm;
    }

    /**
     * @param configuredBinary the configured binary, or empty for {@code qemu-system-<host arch>} from PATH
     * @param kernel a guest kernel to boot-test accelerators with, or empty to report them untested
     * @param configured the accelerator {@code kelpie.qemu.accelerator} fixes, if any: only that one is boot-tested,
     *     so a daemon told to use TCG never waits for a KVM that hangs
     */
    public BackendReport probe(Optional<String> configuredBinary, Optional<Path> kernel, Optional<Accelerator> configured) {
        QemuMachine machine = QemuMachine.forArch(platform.arch());
        String name = configuredBinary.orElse(machine.binary());
        Optional<Path> binary = resolve(name);
        if (binary.isEmpty()) {
            return unavailable(name, "", name + " not found on PATH (install qemu-system, or set kelpie.qemu.binary)");
        }
        String path = binary.get().toString();
        String version;
        Set<String> compiledAccels;
        try {
            version = parseVersion(commands.run(List.of(path, "--version"), COMMAND_TIMEOUT).output());
            compiledAccels = parseAccelerators(commands.run(List.of(path, "-accel", "help"), COMMAND_TIMEOUT).output());
        } catch (IOException e) {
            return unavailable(path, "", "cannot run " + path + ": " + e.getMessage());
        }
        List<AcceleratorReport> accels = new ArrayList<>();
        for (Accelerator accel : Accelerator.values()) {
            ProbeResult result = configured.isPresent() && configured.get() != accel
                    ? ProbeResult.untested("not probed: kelpie.qemu.accelerator=" + configured.get().qemuName())
                    : probeAccelerator(accel, compiledAccels, path, version, machine, kernel);
            accels.add(new AcceleratorReport(accel, result));
        }
        boolean anyUsable = accels.stream().anyMatch(a -> a.result().isAvailable());
        ProbeResult result = anyUsable ? ProbeResult.available("") : ProbeResult.unavailable("no accelerator works");
        return new BackendReport(BACKEND_NAME, result, version, path, accels);
    }

    private ProbeResult probeAccelerator(Accelerator accel, Set<String> compiled, String path, String version,
            QemuMachine machine, Optional<Path> kernel) {
        if (!compiled.contains(accel.qemuName())) {
            return ProbeResult.unavailable("this qemu was built without " + accel.qemuName());
        }
        Optional<ProbeResult> precondition = hostPrecondition(accel);
        if (precondition.isPresent()) {
            return precondition.get();
        }
        if (kernel.isEmpty()) {
            return accel == Accelerator.TCG
                    ? ProbeResult.available("software emulation (slow); not boot-tested: no guest kernel configured")
                    : ProbeResult.untested("no guest kernel to boot yet; only a Linux boot proves " + accel.qemuName());
        }
        try {
            String key = cache.key(path, version, kernel.get(), accel);
            Optional<ProbeResult> cached = cache.get(key);
            if (cached.isPresent()) {
                return cached.get();
            }
            ProbeResult result = bootProbe.boot(path, machine, accel, kernel.get());
            cache.put(key, result);
            return result;
        } catch (IOException e) {
            return ProbeResult.untested("cannot read the probe kernel " + kernel.get() + ": " + e.getMessage());
        }
    }

    /** Why an accelerator cannot work on this host before anything is booted, if it cannot. */
    private Optional<ProbeResult> hostPrecondition(Accelerator accel) {
        return switch (accel) {
            case KVM -> {
                if (!platform.isLinux()) {
                    yield Optional.of(ProbeResult.unavailable("KVM exists only on Linux"));
                }
                if (!Files.exists(devKvm)) {
                    yield Optional.of(ProbeResult.unavailable(devKvm + " does not exist (no KVM in this kernel or VM)"));
                }
                if (!Files.isReadable(devKvm) || !Files.isWritable(devKvm)) {
                    yield Optional.of(ProbeResult.unavailable("no read/write access to " + devKvm
                            + " (add the daemon's user to the kvm group)"));
                }
                yield Optional.empty();
            }
            case HVF -> platform.isMacOs() ? Optional.empty()
                    : Optional.of(ProbeResult.unavailable("Hypervisor.framework exists only on macOS"));
            case TCG -> Optional.empty();
        };
    }

    /** The version in {@code qemu-system-* --version} output, e.g. {@code 7.2.22}; the first line if it has none. */
    public static String parseVersion(String versionOutput) {
        Matcher m = VERSION.matcher(versionOutput);
        return m.find() ? m.group(1) : versionOutput.lines().findFirst().orElse("").strip();
    }

    /** {@code -accel help} prints a header line, then one accelerator per line. */
    static Set<String> parseAccelerators(String helpOutput) {
        return helpOutput.lines().map(String::strip).filter(l -> l.matches("[a-z0-9-]+")).collect(Collectors.toSet());
    }

    private static Optional<Path> resolve(String name) {
        if (name.contains("/")) {
            Path p = Path.of(name);
            return Files.isExecutable(p) ? Optional.of(p) : Optional.empty();
        }
        String pathEnv = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String dir : pathEnv.split(":")) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    private static BackendReport unavailable(String path, String version, String reason) {
        return new BackendReport(BACKEND_NAME, ProbeResult.unavailable(reason), version, path, List.of());
    }
}
