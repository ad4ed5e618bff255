package dev.kelpie.runner;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;

/**
 * The process one libkrun VM runs in: {@code kelpie-vm-runner CONFIG.json}. libkrun keeps global state and
 * {@code krun_start_enter} never returns on success (it {@code _exit}s with the guest's status), so each VM needs a
 * process of its own, and it is never the daemon's JVM. Start it with {@code -Xrs} (libkrun owns SIGINT; SIGTERM ends
 * the VM hard) and native access enabled.
 *
 * <p>Its stderr is the daemon's {@code runner.log}: libkrun's log, notes on degraded functions, and on failure one line
 * {@value #ERROR_PREFIX}MESSAGE that the daemon shows the user. Exit status: once the VM ran, whatever libkrun
 * {@code _exit}s with (a workload status only where libkrun's own init reports one; Kelpie's agent is the guest's init,
 * so normally 0); before that, one of the {@code EXIT_*} codes. The daemon tells the two apart by whether the VM came
 * up (its agent socket exists), not by the number.
 */
public final class VmRunner {

    public static final String ERROR_PREFIX = "kelpie-vm-runner: error: ";
    static final String NOTE_PREFIX = "kelpie-vm-runner: note: ";
    /** The command line is wrong (sysexits EX_USAGE). */
    public static final int EXIT_USAGE = 64;
    /** The configuration file is missing or invalid (EX_DATAERR). */
    public static final int EXIT_BAD_CONFIG = 65;
    /** libkrun cannot be loaded or lacks what Kelpie needs (EX_UNAVAILABLE). */
    public static final int EXIT_LIBKRUN_UNAVAILABLE = 69;
    /** The runner itself failed unexpectedly (EX_SOFTWARE). */
    public static final int EXIT_RUNNER_FAILED = 70;
    /** A libkrun call failed, including krun_start_enter (EX_OSERR). */
    public static final int EXIT_KRUN_FAILED = 71;

    private VmRunner() {}

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length != 1 || args[0].startsWith("-")) {
            return fail(EXIT_USAGE, "usage: kelpie-vm-runner CONFIG.json");
        }
        try {
            return runVm(Path.of(args[0]));
        } catch (RuntimeException e) {
            return fail(EXIT_RUNNER_FAILED, "the runner failed: " + e);
        }
    }

    private static int runVm(Path configFile) {
        OwnSession.enter();
        RunnerConfig config;
        try {
            config = RunnerConfig.read(configFile, new ObjectMapper());
        } catch (IOException | IllegalArgumentException e) {
            return fail(EXIT_BAD_CONFIG, "cannot read the runner config " + configFile + ": " + e.getMessage());
        }
        // Global: the process ends inside krun_start_enter, so nothing allocated here would ever be freed anyway.
        Arena arena = Arena.global();
        try {
            Libkrun krun = Libkrun.load(config.library(), arena);
            VmSetup setup = new VmSetup(krun, arena, config);
            int ctx = setup.configure();
            setup.notes().forEach(note -> System.err.println(NOTE_PREFIX + note));
            System.err.flush();
            throw setup.enter(ctx);
        } catch (LibkrunUnavailableException e) {
            return fail(EXIT_LIBKRUN_UNAVAILABLE, e.getMessage());
        } catch (IllegalArgumentException e) {
            return fail(EXIT_BAD_CONFIG, "the runner config " + configFile + " asks for a VM libkrun cannot run: "
                    + e.getMessage());
        } catch (KrunCallException e) {
            return fail(EXIT_KRUN_FAILED, KrunErrors.explain(e, config, HostFacts.of(config.kvmDevice())));
        }
    }

    private static int fail(int status, String message) {
        System.err.println(ERROR_PREFIX + message);
        System.err.flush();
        return status;
    }
}
