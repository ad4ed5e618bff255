package dev.kelpie.runner;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The test double of libkrun's C ABI: a shared library gcc builds from the checked-in {@code libkrun.h} and
 * {@code krun-double/libkrun_double.c}. It records every call to {@code $KRUN_DOUBLE_DIR/calls-PID.log}, fails the
 * calls {@code KRUN_DOUBLE_FAIL=name:errno,...} names, and its {@code krun_start_enter} runs the configured VM under
 * QEMU ({@code KRUN_DOUBLE_QEMU}) and {@code _exit}s with its status, as libkrun does with the guest's.
 */
public final class KrunDouble {

    /** Which functions the library exports. */
    public enum Variant {
        /** Everything the runner calls. */
        FULL(""),
        /** Without the optional functions the runner degrades around (krun_init_log, krun_has_feature, ...). */
        WITHOUT_OPTIONAL("-DKRUN_DOUBLE_WITHOUT_OPTIONAL"),
        /** Without krun_add_vsock_port2, which no VM can start without. */
        WITHOUT_VSOCK_PORT2("-DKRUN_DOUBLE_WITHOUT_VSOCK_PORT2");

        private final String define;

        Variant(String define) {
            this.define = define;
        }
    }

    public static final String RECORD_DIR_ENV = "KRUN_DOUBLE_DIR";
    public static final String FAIL_ENV = "KRUN_DOUBLE_FAIL";
    public static final String QEMU_ENV = "KRUN_DOUBLE_QEMU";
    public static final String NO_BLK_ENV = "KRUN_DOUBLE_NO_BLK";
    public static final String MAX_VCPUS_ENV = "KRUN_DOUBLE_MAX_VCPUS";
    private static final long GCC_TIMEOUT_SECONDS = 120;

    private KrunDouble() {}

    /** Compiles {@code variant} into {@code dir} and returns the library's path ({@code DIR/VARIANT/libkrun.so.1}). */
    public static Path build(Path dir, Variant variant) throws IOException, InterruptedException {
        Path sources = dir.resolve("src");
        Files.createDirectories(sources);
        copyResource("/dev/kelpie/runner/libkrun.h", sources.resolve("libkrun.h"));
        copyResource("/krun-double/libkrun_double.c", sources.resolve("libkrun_double.c"));
        Path out = dir.resolve(variant.name().toLowerCase()).resolve("libkrun.so.1");
        Files.createDirectories(out.getParent());
        List<String> gcc = new ArrayList<>(List.of("gcc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-Wall", "-Wextra",
                "-Werror", "-shared", "-fPIC", "-I" + sources));
        if (!variant.define.isEmpty()) {
            gcc.add(variant.define);
        }
        gcc.addAll(List.of("-o", out.toString(), sources.resolve("libkrun_double.c").toString()));
        Path log = dir.resolve("gcc-" + variant.name().toLowerCase() + ".log");
        Process p = new ProcessBuilder(gcc).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(GCC_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("gcc did not finish building the libkrun double within " + GCC_TIMEOUT_SECONDS + " s");
        }
        if (p.exitValue() != 0) {
            throw new IOException("gcc failed to build the libkrun double: " + Files.readString(log));
        }
        return out;
    }

    /** The calls one process recorded, in order, without the double's {@code #} notes. */
    public static List<String> calls(Path recordDir) throws IOException {
        return recordLines(recordDir).stream().filter(l -> !l.startsWith("#")).toList();
    }

    /** Every line the double recorded in {@code recordDir} (one process expected), notes included. */
    public static List<String> recordLines(Path recordDir) throws IOException {
        List<Path> files;
        try (var s = Files.list(recordDir)) {
            files = s.filter(f -> f.getFileName().toString().startsWith("calls-")).toList();
        }
        if (files.isEmpty()) {
            return List.of();
        }
        if (files.size() > 1) {
            throw new IllegalStateException("more than one process recorded calls in " + recordDir + ": " + files);
        }
        return Files.readAllLines(files.getFirst(), StandardCharsets.UTF_8);
    }

    private static void copyResource(String name, Path target) throws IOException {
        try (InputStream in = KrunDouble.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("resource " + name + " is missing from the classpath");
            }
            Files.write(target, in.readAllBytes());
        }
    }
}
