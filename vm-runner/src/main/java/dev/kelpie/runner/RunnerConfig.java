package dev.kelpie.runner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Everything the runner needs to configure one VM: written by the daemon as {@code runner.json} in the VM's runtime
 * directory, read by the runner. The sandbox's own env and settings are not here: they travel to the agent over its
 * socket, never on the kernel command line (2 KiB on aarch64).
 *
 * @param library libkrun's path, or a name the loader searches
 * @param logLevel libkrun's log level, 0 (off) to 5 (trace); its log goes to the runner's stderr file
 * @param arch guest architecture: {@code x86_64} boots an ELF {@code vmlinux}, {@code aarch64} a raw {@code Image}
 * @param rootDisk the image's read-only root filesystem, the guest's {@code /dev/vda}
 * @param writableDisk the VM's own writable disk, {@code /dev/vdb}
 * @param agentVsockPort the guest port the agent listens on
 * @param agentSocket the host socket libkrun creates and forwards to that port
 * @param consoleLog where the guest console ({@code hvc0}) is written
 * @param rlimits guest rlimits as libkrun takes them, {@code "RESOURCE=CUR:MAX"}
 * @param guestEnv the guest init's complete environment: never the host's
 * @param kvmDevice the KVM device whose access explains a failed start on Linux
 * @param vsockPorts the network's vsock mappings beside the agent's (ADR 0022 addendum); absent in older files
 */
public record RunnerConfig(String library, int logLevel, String arch, int vcpuCount, int memoryMib, Path kernel,
        String kernelCmdline, Path rootDisk, Path writableDisk, int agentVsockPort, Path agentSocket, Path consoleLog,
        List<String> rlimits, List<String> guestEnv, Path kvmDevice, List<VsockPort> vsockPorts) {

    public static final int MAX_VCPUS = 255;

    /**
     * One {@code krun_add_vsock_port2} mapping.
     *
     * @param listen true: libkrun creates {@code socket} and connects each host connection to the guest's port;
     *     false: each guest connection to the host's port is connected to {@code socket}, which must exist
     */
    public record VsockPort(int port, Path socket, boolean listen) {
        public VsockPort {
            Objects.requireNonNull(socket, "socket");
            if (port < 1) {
                throw new IllegalArgumentException("vsock port must be positive, got " + port);
            }
        }
    }

    /** A VM without network mappings. */
    public RunnerConfig(String library, int logLevel, String arch, int vcpuCount, int memoryMib, Path kernel,
            String kernelCmdline, Path rootDisk, Path writableDisk, int agentVsockPort, Path agentSocket,
            Path consoleLog, List<String> rlimits, List<String> guestEnv, Path kvmDevice) {
        this(library, logLevel, arch, vcpuCount, memoryMib, kernel, kernelCmdline, rootDisk, writableDisk,
                agentVsockPort, agentSocket, consoleLog, rlimits, guestEnv, kvmDevice, List.of());
    }

    public RunnerConfig {
        Objects.requireNonNull(library, "library");
        Objects.requireNonNull(arch, "arch");
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(kernelCmdline, "kernelCmdline");
        Objects.requireNonNull(rootDisk, "rootDisk");
        Objects.requireNonNull(writableDisk, "writableDisk");
        Objects.requireNonNull(agentSocket, "agentSocket");
        Objects.requireNonNull(consoleLog, "consoleLog");
        Objects.requireNonNull(kvmDevice, "kvmDevice");
        rlimits = List.copyOf(rlimits);
        guestEnv = List.copyOf(guestEnv);
        vsockPorts = vsockPorts == null ? List.of() : List.copyOf(vsockPorts);
        if (vsockPorts.stream().anyMatch(p -> p.port() == agentVsockPort)) {
            throw new IllegalArgumentException("vsock port " + agentVsockPort + " is the agent's");
        }
        if (!arch.equals("x86_64") && !arch.equals("aarch64")) {
            throw new IllegalArgumentException("arch must be x86_64 or aarch64, got " + arch);
        }
        // libkrun takes the vCPU count as a uint8_t: a larger value would wrap silently.
        if (vcpuCount < 1 || vcpuCount > MAX_VCPUS) {
            throw new IllegalArgumentException("vcpuCount must be 1.." + MAX_VCPUS + ", got " + vcpuCount);
        }
        if (memoryMib < 1) {
            throw new IllegalArgumentException("memoryMib must be positive, got " + memoryMib);
        }
        if (logLevel < 0 || logLevel > 5) {
            throw new IllegalArgumentException("logLevel must be 0..5, got " + logLevel);
        }
    }

    public void write(Path file, ObjectMapper json) throws IOException {
        ObjectNode node = json.createObjectNode();
        node.put("library", library).put("logLevel", logLevel).put("arch", arch).put("vcpuCount", vcpuCount)
                .put("memoryMib", memoryMib).put("kernel", kernel.toString()).put("kernelCmdline", kernelCmdline)
                .put("rootDisk", rootDisk.toString()).put("writableDisk", writableDisk.toString())
                .put("agentVsockPort", agentVsockPort).put("agentSocket", agentSocket.toString())
                .put("consoleLog", consoleLog.toString()).put("kvmDevice", kvmDevice.toString());
        rlimits.forEach(node.putArray("rlimits")::add);
        guestEnv.forEach(node.putArray("guestEnv")::add);
        var ports = node.putArray("vsockPorts");
        vsockPorts.forEach(p -> ports.addObject().put("port", p.port()).put("socket", p.socket().toString())
                .put("listen", p.listen()));
        Files.writeString(file, json.writerWithDefaultPrettyPrinter().writeValueAsString(node));
    }

    /**
     * @throws IllegalArgumentException naming the field when the file is not a complete, valid configuration
     */
    public static RunnerConfig read(Path file, ObjectMapper json) throws IOException {
        JsonNode node = json.readTree(file.toFile());
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(file + " is not a JSON object");
        }
        return new RunnerConfig(text(node, "library"), integer(node, "logLevel"), text(node, "arch"),
                integer(node, "vcpuCount"), integer(node, "memoryMib"), Path.of(text(node, "kernel")),
                text(node, "kernelCmdline"), Path.of(text(node, "rootDisk")), Path.of(text(node, "writableDisk")),
                integer(node, "agentVsockPort"), Path.of(text(node, "agentSocket")), Path.of(text(node, "consoleLog")),
                strings(node, "rlimits"), strings(node, "guestEnv"), Path.of(text(node, "kvmDevice")),
                vsockPorts(node));
    }

    private static List<VsockPort> vsockPorts(JsonNode node) {
        JsonNode value = node.get("vsockPorts");
        if (value == null || value.isNull()) {
            return List.of();
        }
        if (!value.isArray()) {
            throw new IllegalArgumentException("runner config: \"vsockPorts\" must be an array");
        }
        List<VsockPort> out = new ArrayList<>();
        for (JsonNode item : value) {
            JsonNode listen = item.get("listen");
            if (!item.isObject() || listen == null || !listen.isBoolean()) {
                throw new IllegalArgumentException("runner config: each of \"vsockPorts\" needs port, socket and a"
                        + " boolean listen");
            }
            out.add(new VsockPort(integer(item, "port"), Path.of(text(item, "socket")), listen.asBoolean()));
        }
        return out;
    }

    private static JsonNode field(JsonNode node, String name) {
        JsonNode value = node.get(name);
        if (value == null || value.isNull()) {
            throw new IllegalArgumentException("runner config lacks \"" + name + "\"");
        }
        return value;
    }

    private static String text(JsonNode node, String name) {
        JsonNode value = field(node, name);
        if (!value.isTextual()) {
            throw new IllegalArgumentException("runner config: \"" + name + "\" must be a string");
        }
        return value.asText();
    }

    private static int integer(JsonNode node, String name) {
        JsonNode value = field(node, name);
        if (!value.isInt()) {
            throw new IllegalArgumentException("runner config: \"" + name + "\" must be an integer");
        }
        return value.asInt();
    }

    private static List<String> strings(JsonNode node, String name) {
        JsonNode value = field(node, name);
        if (!value.isArray()) {
            throw new IllegalArgumentException("runner config: \"" + name + "\" must be an array of strings");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode item : value) {
            if (!item.isTextual()) {
                throw new IllegalArgumentException("runner config: \"" + name + "\" must hold only strings");
            }
            out.add(item.asText());
        }
        return out;
    }
}
