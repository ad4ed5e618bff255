package dev.kelpie.daemon.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.hypervisor.probe.Accelerator;
import dev.kelpie.daemon.hypervisor.qemu.QemuCommandLine;
import dev.kelpie.daemon.hypervisor.qemu.QemuVmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A real VM booted from an image-build output directory under QEMU TCG, with the agent on virtio-serial. */
final class TestVm implements AutoCloseable {

    private static final int MEMORY_MIB = 256;

    final Path dir;
    final Path agentSocket;
    final Path consoleLog;
    final JsonNode metadata;
    private final Process qemu;

    private TestVm(Path dir, Path agentSocket, Path consoleLog, JsonNode metadata, Process qemu) {
        this.dir = dir;
        this.agentSocket = agentSocket;
        this.consoleLog = consoleLog;
        this.metadata = metadata;
        this.qemu = qemu;
    }

    static TestVm boot(Path imageDir, Path dir) throws IOException, InterruptedException {
        JsonNode metadata = new ObjectMapper().readTree(imageDir.resolve("metadata.json").toFile());
        String arch = metadata.path("arch").asText();
        Path writable = dir.resolve("rw.ext4");
        // A sparse copy costs next to nothing, as the daemon will do per sandbox.
        Process cp = new ProcessBuilder("cp", "--sparse=always", imageDir.resolve("disk-template.ext4").toString(),
                writable.toString()).inheritIO().start();
        if (cp.waitFor() != 0) {
            throw new IOException("copying the disk template failed");
        }
        QemuVmSpec spec = new QemuVmSpec(arch, Accelerator.TCG, 1, MEMORY_MIB,
                imageDir.resolve(arch.equals("x86_64") ? "vmlinux" : "Image"), metadata.path("kernel_cmdline").asText(),
                imageDir.resolve("rootfs.ext4"), writable, dir.resolve("agent.sock"), dir.resolve("qmp.sock"),
                dir.resolve("console.log"), dir.resolve("qemu.pid"), dir.resolve("qemu.log"),
                dev.kelpie.daemon.hypervisor.VmNetwork.NONE, null);
        String binary = arch.equals("x86_64") ? "qemu-system-x86_64" : "qemu-system-aarch64";
        Process qemu = new ProcessBuilder(QemuCommandLine.build(binary, spec)).redirectErrorStream(true)
                .redirectOutput(dir.resolve("qemu.out").toFile()).start();
        return new TestVm(dir, spec.agentSocket(), spec.consoleLog(), metadata, qemu);
    }

    boolean isAlive() {
        return qemu.isAlive();
    }

    String diagnostics() {
        try {
            return "qemu: " + Files.readString(dir.resolve("qemu.out")) + "\nconsole:\n"
                    + String.join("\n", tail(Files.readAllLines(consoleLog), 40));
        } catch (IOException e) {
            return "(no diagnostics: " + e.getMessage() + ")";
        }
    }

    private static List<String> tail(List<String> lines, int n) {
        return lines.subList(Math.max(0, lines.size() - n), lines.size());
    }

    @Override
    public void close() throws InterruptedException {
        qemu.destroyForcibly();
        qemu.waitFor(30, TimeUnit.SECONDS);
    }
}
