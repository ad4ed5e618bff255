package dev.kelpie.runner;

/**
 * Turns a failed libkrun call into the message a user sees (ADR 0021 lists every row). libkrun configures lazily, so
 * most real problems surface only in {@code krun_start_enter}, and mostly as EINVAL; the host's facts tell which one
 * it probably was. Every message also names the call and errno, so a case this table misses still says what failed.
 */
public final class KrunErrors {

    private KrunErrors() {}

    /** For a library whose {@code krun_has_feature} says it has no block devices, or that lacks the disk functions. */
    public static final String WITHOUT_BLOCK_DEVICES = "this libkrun was built without block-device support (BLK=1);"
            + " Kelpie's images boot from disk images, so install a libkrun built with it (Fedora's and Homebrew's are)";

    public static String explain(KrunCallException failure, RunnerConfig config, HostFacts host) {
        int errno = failure.errno();
        if (errno == 0) {
            return "libkrun returned from " + failure.function().symbol() + " without running the VM [it returned "
                    + failure.result() + "]";
        }
        String call = failure.function().symbol() + " returned " + Errno.describe(errno, host.macOs());
        return explanation(failure.function(), Errno.of(errno, host.macOs()).orElse(null), config, host) + " [" + call + "]";
    }

    private static String explanation(KrunFunction f, Errno errno, RunnerConfig c, HostFacts host) {
        if (errno == Errno.ENOMEM) {
            return "out of memory: libkrun could not set up a VM of " + c.memoryMib() + " MiB";
        }
        return switch (f) {
            case CREATE_CTX -> "libkrun could not create a VM context";
            case SET_VM_CONFIG -> "libkrun refused " + c.vcpuCount() + " vCPUs with " + c.memoryMib() + " MiB of memory";
            case SET_KERNEL -> errno == Errno.ENOTSUP
                    ? "this libkrun build cannot boot an external kernel (a confidential-computing build?); Kelpie boots"
                            + " the image's own kernel"
                    : "libkrun refused the kernel " + c.kernel() + " (" + VmSetup.kernelFormatName(c.arch())
                            + ") or its command line";
            case ADD_DISK, ADD_DISK2 -> errno == Errno.ENOTSUP
                    ? WITHOUT_BLOCK_DEVICES
                    : "libkrun refused a disk (" + c.rootDisk() + " or " + c.writableDisk() + ")";
            case ADD_VSOCK_PORT2 -> switch (errno) {
                case EEXIST -> "the agent socket " + c.agentSocket() + " already exists: another VM may still run in"
                        + " this runtime directory";
                case ENODEV -> "vsock is disabled in this libkrun context, so the agent cannot be reached";
                case null, default -> "libkrun refused the agent's vsock port " + c.agentVsockPort() + " at " + c.agentSocket();
            };
            case SET_PORT_MAP -> "libkrun would not take an empty port map, so guest listeners could be published on"
                    + " the host; the VM is not started";
            case DISABLE_IMPLICIT_VSOCK, ADD_VSOCK -> "libkrun would not replace its implicit vsock device with one"
                    + " without TSI, so guest listeners could be published on the host; the VM is not started";
            case SET_CONSOLE_OUTPUT -> "libkrun refused the console file " + c.consoleLog();
            case SET_RLIMITS -> "libkrun refused the guest rlimits " + c.rlimits();
            case SET_ENV -> "libkrun refused the guest environment";
            case START_ENTER -> startFailure(errno, c, host);
            case INIT_LOG, SET_LOG_LEVEL, HAS_FEATURE, GET_MAX_VCPUS, FREE_CTX -> "libkrun failed " + f.symbol();
        };
    }

    private static String startFailure(Errno errno, RunnerConfig c, HostFacts host) {
        if (errno == Errno.ENOENT) {
            // With an external kernel libkrun needs no libkrunfw to start; releases that load it anyway fail here
            // without it, as does a context libkrun no longer knows.
            return "libkrun could not find what the VM needs: a file the configuration names (" + c.kernel() + ", "
                    + c.rootDisk() + ", " + c.writableDisk() + "), libkrunfw where this release loads it even for an"
                    + " external kernel (" + (host.macOs() ? "libkrunfw.5.dylib" : "libkrunfw.so.5") + "; install it"
                    + " beside libkrun or set kelpie.libkrun.library-path), or the VM context itself";
        }
        if (errno == Errno.EACCES || errno == Errno.EPERM) {
            return host.macOs()
                    ? "permission denied starting the VM: the runner may lack the com.apple.security.hypervisor"
                            + " entitlement (sign it: deploy/launchd/install.sh sign RUNNER), or a disk is not readable"
                    : "permission denied starting the VM: " + c.kvmDevice() + " or a disk is not accessible to the"
                            + " daemon's user (add it to the kvm group)";
        }
        if (errno == Errno.EINVAL && host.macOs()) {
            return "Hypervisor.framework would not build the VM: the runner probably lacks the"
                    + " com.apple.security.hypervisor entitlement (sign it: deploy/launchd/install.sh sign RUNNER; re-signing"
                    + " without --entitlements drops it), or this Mac is not Apple silicon; runner.log has libkrun's reason";
        }
        if (errno == Errno.EINVAL && !host.kvmAccessible()) {
            return "no access to " + c.kvmDevice() + ": libkrun needs KVM (load kvm_intel or kvm_amd, and add the"
                    + " daemon's user to the kvm group)";
        }
        return "libkrun could not build the VM; runner.log has its reason";
    }
}
