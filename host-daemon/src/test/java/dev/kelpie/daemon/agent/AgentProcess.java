package dev.kelpie.daemon.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The real static agent binary, run on the host with a Unix-socket listener and a private workspace. */
final class AgentProcess implements AutoCloseable {

    static final String IMAGE_VERSION = "1.2.3-20260101-abcdef0";

    final Path socket;
    final Path workspace;
    final Path log;
    private final Process process;

    private AgentProcess(Path socket, Path workspace, Path log, Process process) {
        this.socket = socket;
        this.workspace = workspace;
        this.log = log;
        this.process = process;
    }

    static AgentProcess start(Path binary, Path dir) throws IOException {
        Path workspace = Files.createDirectories(dir.resolve("workspace"));
        Path versionFile = Files.writeString(dir.resolve("kelpie-version"), IMAGE_VERSION + "\n");
        Path socket = dir.resolve("agent.sock");
        Path log = dir.resolve("agent.log");
        Process process = new ProcessBuilder(List.of(binary.toString(), "--listen", "unix:" + socket,
                "--workspace", workspace.toString(), "--image-version-file", versionFile.toString(),
                "--generation-file", dir.resolve("generation").toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new AgentProcess(socket, workspace, log, process);
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log)";
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
