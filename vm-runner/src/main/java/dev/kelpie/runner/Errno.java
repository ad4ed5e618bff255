package dev.kelpie.runner;

import java.util.Optional;
import java.util.stream.Stream;

/**
 * The errno values libkrun's calls are known to return (negated), with their numbers on Linux and macOS: libkrun
 * returns the host's own values, and ENOTSUP differs between the two.
 */
public enum Errno {
    EPERM(1, 1, "operation not permitted"),
    ENOENT(2, 2, "no such file or directory"),
    EIO(5, 5, "input/output error"),
    ENOMEM(12, 12, "cannot allocate memory"),
    EACCES(13, 13, "permission denied"),
    EBUSY(16, 16, "device or resource busy"),
    EEXIST(17, 17, "file exists"),
    ENODEV(19, 19, "no such device"),
    EINVAL(22, 22, "invalid argument"),
    ENOTSUP(95, 45, "operation not supported");

    private final int linux;
    private final int macOs;
    private final String text;

    Errno(int linux, int macOs, String text) {
        this.linux = linux;
        this.macOs = macOs;
        this.text = text;
    }

    public int number(boolean onMacOs) {
        return onMacOs ? macOs : linux;
    }

    public static Optional<Errno> of(int number, boolean onMacOs) {
        return Stream.of(values()).filter(e -> e.number(onMacOs) == number).findFirst();
    }

    /** e.g. {@code -22 (EINVAL: invalid argument)}; an unknown number is shown bare. */
    public static String describe(int number, boolean onMacOs) {
        return "-" + number + of(number, onMacOs).map(e -> " (" + e.name() + ": " + e.text + ")").orElse("");
    }
}
