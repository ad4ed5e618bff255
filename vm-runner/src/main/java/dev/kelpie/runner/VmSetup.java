package dev.kelpie.runner;

import static dev.kelpie.runner.KrunFunction.ADD_DISK;
import static dev.kelpie.runner.KrunFunction.ADD_DISK2;
import static dev.kelpie.runner.KrunFunction.ADD_VSOCK;
import static dev.kelpie.runner.KrunFunction.ADD_VSOCK_PORT2;
import static dev.kelpie.runner.KrunFunction.CREATE_CTX;
import static dev.kelpie.runner.KrunFunction.DISABLE_IMPLICIT_VSOCK;
import static dev.kelpie.runner.KrunFunction.FREE_CTX;
import static dev.kelpie.runner.KrunFunction.GET_MAX_VCPUS;
import static dev.kelpie.runner.KrunFunction.HAS_FEATURE;
import static dev.kelpie.runner.KrunFunction.INIT_LOG;
import static dev.kelpie.runner.KrunFunction.SET_CONSOLE_OUTPUT;
import static dev.kelpie.runner.KrunFunction.SET_ENV;
import static dev.kelpie.runner.KrunFunction.SET_KERNEL;
import static dev.kelpie.runner.KrunFunction.SET_LOG_LEVEL;
import static dev.kelpie.runner.KrunFunction.SET_PORT_MAP;
import static dev.kelpie.runner.KrunFunction.SET_RLIMITS;
import static dev.kelpie.runner.KrunFunction.SET_VM_CONFIG;
import static dev.kelpie.runner.KrunFunction.START_ENTER;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Configures one libkrun context from a {@link RunnerConfig}, in a fixed order that tests pin call by call:
 * logging, the block-device check, the vCPU count against the hypervisor's maximum, the context, vCPUs and memory,
 * the image's kernel, the read-only root disk ({@code vda}) and the writable disk ({@code vdb}), TSI off (1.17+: the
 * implicit vsock device replaced by one without TSI; older: an explicitly empty port map, so no guest listener is
 * published), the agent's vsock port (the guest listens, libkrun creates the host socket), the console file,
 * rlimits, and the guest's explicit environment (libkrun would otherwise copy the host's).
 *
 * <p>Optional functions degrade: without {@code krun_init_log} the deprecated {@code krun_set_log_level}; without
 * {@code krun_has_feature} block support is judged by the disk functions' presence; without {@code krun_add_disk2}
 * {@code krun_add_disk}; without {@code krun_get_max_vcpus} (&lt; 1.16) only the ABI's 255 vCPUs bound the count;
 * without {@code krun_disable_implicit_vsock} and {@code krun_add_vsock} (&lt; 1.17) TSI stays with an empty port
 * map; without {@code krun_set_console_output} the console goes to the runner's own output file;
 * without {@code krun_set_rlimits} the guest keeps its defaults. Each degradation is reported through {@code notes}.
 */
public final class VmSetup {

    static final int LOG_TARGET_STDERR = -1;
    static final int LOG_STYLE_NEVER = 2;
    static final int LOG_OPTION_NO_ENV = 1;
    static final int DISK_FORMAT_RAW = 0;
    static final int KERNEL_FORMAT_RAW = 0;
    static final int KERNEL_FORMAT_ELF = 1;
    /** {@code krun_set_vm_config} takes the vCPU count as a {@code uint8_t}. */
    static final int MAX_VCPUS_ABI = 255;
    /** {@code krun_add_vsock}'s TSI features: none, a vsock device for the agent only. */
    static final int TSI_FEATURES_NONE = 0;

    private final Libkrun krun;
    private final Arena arena;
    private final RunnerConfig config;
    private final List<String> notes = new ArrayList<>();

    public VmSetup(Libkrun krun, Arena arena, RunnerConfig config) {
        this.krun = krun;
        this.arena = arena;
        this.config = config;
    }

    /** The kernel format libkrun is told: image-build ships an ELF vmlinux for x86_64 and a raw Image for aarch64. */
    static int kernelFormat(String arch) {
        return arch.equals("x86_64") ? KERNEL_FORMAT_ELF : KERNEL_FORMAT_RAW;
    }

    static String kernelFormatName(String arch) {
        return arch.equals("x86_64") ? "ELF vmlinux" : "raw Image";
    }

    /** What was degraded, one sentence each. */
    public List<String> notes() {
        return List.copyOf(notes);
    }

    /**
     * Returns the configured context, ready for {@link #enter}. A context whose configuration failed is freed.
     *
     * @throws LibkrunUnavailableException when the library lacks a required function or block devices
     * @throws KrunCallException when a call returns {@code -errno}
     */
    public int configure() throws KrunCallException {
        krun.describeMissingRequired().ifPresent(missing -> {
            throw new LibkrunUnavailableException(missing);
        });
        startLogging();
        requireBlockDevices();
        requireVcpuCount();
        int ctx = check(CREATE_CTX);
        try {
            check(SET_VM_CONFIG, ctx, (byte) config.vcpuCount(), config.memoryMib());
            check(SET_KERNEL, ctx, string(config.kernel().toString()), kernelFormat(config.arch()), MemorySegment.NULL,
                    string(config.kernelCmdline()));
            addDisk(ctx, "root", config.rootDisk(), true);
            addDisk(ctx, "rw", config.writableDisk(), false);
            boolean tsiOff = krun.has(DISABLE_IMPLICIT_VSOCK) && krun.has(ADD_VSOCK);
            if (tsiOff) {
                check(DISABLE_IMPLICIT_VSOCK, ctx);
                check(ADD_VSOCK, ctx, TSI_FEATURES_NONE);
            } else {
                notes.add("krun_disable_implicit_vsock is missing (libkrun < 1.17): TSI stays on, with an empty port map");
            }
            check(ADD_VSOCK_PORT2, ctx, config.agentVsockPort(), string(config.agentSocket().toString()), true);
            if (!tsiOff) {
                check(SET_PORT_MAP, ctx, array(List.of()));
            }
            if (krun.has(SET_CONSOLE_OUTPUT)) {
                check(SET_CONSOLE_OUTPUT, ctx, string(config.consoleLog().toString()));
            } else {
                notes.add("krun_set_console_output is missing (libkrun < 1.8): the console goes to the runner's log");
            }
            if (!config.rlimits().isEmpty()) {
                if (krun.has(SET_RLIMITS)) {
                    check(SET_RLIMITS, ctx, array(config.rlimits()));
                } else {
                    notes.add("krun_set_rlimits is missing: the guest keeps its default rlimits");
                }
            }
            check(SET_ENV, ctx, array(config.guestEnv()));
            return ctx;
        } catch (KrunCallException | RuntimeException e) {
            if (krun.has(FREE_CTX)) {
                krun.call(FREE_CTX, ctx);
            }
            throw e;
        }
    }

    /**
     * Enters the VM: on success libkrun runs it on this thread and ends the process with the guest's status, so this
     * returns only when the VM could not be built.
     */
    public KrunCallException enter(int ctx) {
        return new KrunCallException(START_ENTER, krun.call(START_ENTER, ctx));
    }

    private void startLogging() {
        // Both log to the runner's stderr, which the daemon points at runner.log; each may be called once per process.
        if (krun.has(INIT_LOG)) {
            krun.call(INIT_LOG, LOG_TARGET_STDERR, config.logLevel(), LOG_STYLE_NEVER, LOG_OPTION_NO_ENV);
        } else if (krun.has(SET_LOG_LEVEL)) {
            notes.add("krun_init_log is missing (libkrun < 1.13): logging through krun_set_log_level, RUST_LOG applies");
            krun.call(SET_LOG_LEVEL, config.logLevel());
        }
    }

    private void requireBlockDevices() {
        if (!krun.has(HAS_FEATURE)) {
            notes.add("krun_has_feature is missing (libkrun < 1.17.3): block support judged by the disk functions");
        }
        if (!krun.supportsBlockDevices()) {
            throw new LibkrunUnavailableException(KrunErrors.WITHOUT_BLOCK_DEVICES);
        }
    }

    /** Before a context exists: a count libkrun would truncate or KVM/HVF refuse is the config's fault, not the VM's. */
    private void requireVcpuCount() {
        int max = MAX_VCPUS_ABI;
        if (krun.has(GET_MAX_VCPUS)) {
            int reported = krun.call(GET_MAX_VCPUS);
            if (reported > 0) {
                max = Math.min(max, reported);
            }
        }
        if (config.vcpuCount() > max) {
            throw new IllegalArgumentException(config.vcpuCount() + " vCPUs asked, but this host's hypervisor runs at"
                    + " most " + max + " per VM (krun_get_max_vcpus)");
        }
    }

    private void addDisk(int ctx, String blockId, Path file, boolean readOnly) throws KrunCallException {
        // The format is never probed from the file's bytes (a guest could write a qcow2 header into its own disk):
        // Kelpie's disks are raw by construction.
        if (krun.has(ADD_DISK2)) {
            check(ADD_DISK2, ctx, string(blockId), string(file.toString()), DISK_FORMAT_RAW, readOnly);
        } else {
            if (blockId.equals("root")) {
                notes.add("krun_add_disk2 is missing (libkrun < 1.10): disks added as raw with krun_add_disk");
            }
            check(ADD_DISK, ctx, string(blockId), string(file.toString()), readOnly);
        }
    }

    private int check(KrunFunction f, Object... args) throws KrunCallException {
        int rc = krun.call(f, args);
        if (rc < 0) {
            throw new KrunCallException(f, rc);
        }
        return rc;
    }

    private MemorySegment string(String s) {
        return arena.allocateFrom(s);
    }

    /** A NULL-terminated {@code const char *const[]}; an empty list is a lone NULL, never a NULL pointer. */
    private MemorySegment array(List<String> strings) {
        MemorySegment array = arena.allocate(ValueLayout.ADDRESS, strings.size() + 1L);
        for (int i = 0; i < strings.size(); i++) {
            array.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(strings.get(i)));
        }
        array.setAtIndex(ValueLayout.ADDRESS, strings.size(), MemorySegment.NULL);
        return array;
    }
}
