package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxRequest;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** create_sandbox, fork_sandbox, list_sandboxes and delete_sandbox. */
final class SandboxTools {

    /** The daemon's own limit of copies per Fork call, which this tool keeps per call too. */
    static final int MAX_FORKS_PER_CALL = 16;

    private final McpSession session;
    private final McpLimits limits;
    private final DaemonStubs daemon;
    private final SandboxAdoption adoption;

    SandboxTools(McpSession session, McpLimits limits, DaemonStubs daemon, SandboxAdoption adoption) {
        this.session = session;
        this.limits = limits;
        this.daemon = daemon;
        this.adoption = adoption;
    }

    List<KelpieTool> tools(McpJsonMapper json) {
        return List.of(
                KelpieTool.of(json, "create_sandbox", "Create a sandbox", KelpieTool.Kind.CHANGES, """
                        Boot a new Linux microVM sandbox and return its id once it is ready for commands. Everything \
                        runs isolated from the host: use it for code you would not run on your own machine. Omitted \
                        sizes take the daemon's defaults. By default the sandbox has no network and is deleted when \
                        this MCP session ends; set keep to true to leave it running afterwards. This session may have \
                        at most %d sandbox(es) at once.""".formatted(limits.maxSandboxes()), createSchema(), this::create),
                KelpieTool.of(json, "list_sandboxes", "List this session's sandboxes", KelpieTool.Kind.READ_ONLY, """
                        List the sandboxes this MCP session created (or restored) and that still exist: id, state, \
                        image, size, network and whether it is kept after the session.""", """
                        {"type": "object", "properties": {}, "additionalProperties": false}""", this::list),
                KelpieTool.of(json, "delete_sandbox", "Delete a sandbox", KelpieTool.Kind.DESTRUCTIVE, """
                        Stop a sandbox of this session and delete everything in it, at once and for good (snapshot it \
                        first to keep its files).""", """
                        {"type": "object", "properties": {
                          "sandbox_id": {"type": "string", "description": "The sandbox to delete."}
                        }, "required": ["sandbox_id"], "additionalProperties": false}""", this::delete),
                KelpieTool.of(json, "fork_sandbox", "Fork a sandbox", KelpieTool.Kind.CHANGES, """
                        Make copies of a running sandbox of this session that continue from its current state: \
                        running processes, memory and files. Each copy then goes its own way (files written after \
                        the fork are its own), and the source keeps running. Much faster than creating a sandbox \
                        and repeating the setup: fork after an expensive setup to try several things side by side. \
                        Copies count against this session's limit of %d sandbox(es) and are deleted with the \
                        session unless keep is true.""".formatted(limits.maxSandboxes()), """
                        {"type": "object", "properties": {
                          "sandbox_id": {"type": "string", "description": "The sandbox to copy."},
                          "count": {"type": "integer", "minimum": 1, "maximum": 16, "description": "How many \
                        copies (default 1)."},
                          "keep": {"type": "boolean", "description": "true: the copies stay after this MCP session \
                        ends. Default false."}
                        }, "required": ["sandbox_id"], "additionalProperties": false}""", this::fork));
    }

    private String createSchema() {
        return """
                {"type": "object", "properties": {
                  "image_version": {"type": "string", "description": "Base image version (e.g. \\"1.2.0\\"). Omit \
                for the daemon's default image."},
                  "vcpus": {"type": "integer", "minimum": 1, "maximum": %d, "description": "Virtual CPUs. Omit for \
                the daemon's default."},
                  "memory_mib": {"type": "integer", "minimum": 64, "maximum": %d, "description": "Guest memory in \
                MiB. Omit for the daemon's default."},
                  "disk_mib": {"type": "integer", "minimum": 64, "maximum": %d, "description": "Writable disk \
                (root file system changes and /workspace) in MiB. Omit for the daemon's default."},
                  "network": {"type": "string", "enum": ["none", "egress"], "description": "none (default): no \
                network, loopback only. egress: outbound TCP connections to the destinations in 'allow' only. \
                Destinations the operator allows: %s."},
                  "allow": {"type": "array", "items": {"type": "string"}, "description": "With network 'egress': \
                the destinations the sandbox may connect to (host name, *.domain, IP or CIDR, each with an \
                optional :PORT), each one the operator allows. Omit for all the operator allows."},
                  "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": \
                "Environment variables for every command in the sandbox."},
                  "keep": {"type": "boolean", "description": "true: the sandbox stays after this MCP session \
                ends. Default false: it is deleted with the session."}
                }, "additionalProperties": false}""".formatted(limits.maxVcpus(), limits.maxMemoryMib(),
                limits.maxDiskMib(), limits.egressAllowed().isEmpty() ? "none (egress is refused)"
                        : String.join(", ", limits.egressAllowed()));
    }

    private CallToolResult create(ToolArguments args) {
        long vcpus = args.optionalLong("vcpus", 1, Integer.MAX_VALUE).orElse(0L);
        long memoryMib = args.optionalLong("memory_mib", 1, Integer.MAX_VALUE).orElse(0L);
        long diskMib = args.optionalLong("disk_mib", 1, Integer.MAX_VALUE).orElse(0L);
        limits.checkRequestedShape(vcpus, memoryMib, diskMib);
        boolean keep = args.flag("keep");
        SandboxSpec spec = SandboxSpec.newBuilder().setImageVersion(args.optionalString("image_version").orElse(""))
                .setVcpuCount((int) vcpus).setMemoryMib((int) memoryMib).setDiskSizeMib((int) diskMib)
                .putAllEnv(args.stringMap("env")).putAllLabels(session.labels(keep)).setNetwork(adoption.network(args))
                .build();
        Sandbox s = adoption.adopt(() -> daemon.blocking(DaemonStubs.SLOW_CALL_TIMEOUT)
                .create(CreateSandboxRequest.newBuilder().setSpec(spec).build()).getSandbox(), keep);
        return ToolResults.ok("Created sandbox " + SandboxSummary.line(s) + ". Pass sandbox_id \"" + s.getId()
                + "\" to the other tools; files live in /workspace.", SandboxSummary.structured(s));
    }

    /**
     * One copy per daemon call, each adopted on its own: every copy holds a slot of the session's limit while it is
     * made, and copies made before a failure stay the session's (the result says how many were made).
     */
    private CallToolResult fork(ToolArguments args) {
        String id = args.requiredString("sandbox_id");
        int count = args.optionalLong("count", 1, MAX_FORKS_PER_CALL).orElse(1L).intValue();
        boolean keep = args.flag("keep");
        session.requireOwned(id);
        ForkSandboxRequest request = ForkSandboxRequest.newBuilder().setId(id).setCount(1)
                .putAllLabels(session.labels(keep)).build();
        List<Sandbox> copies = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            try {
                copies.add(adoption.adopt(() -> daemon.blocking(DaemonStubs.SLOW_CALL_TIMEOUT).fork(request)
                        .getSandboxes(0), keep));
            } catch (ToolError | StatusRuntimeException e) {
                if (copies.isEmpty()) {
                    throw e;
                }
                Status.Code code = e instanceof ToolError t ? t.code() : ((StatusRuntimeException) e).getStatus().getCode();
                throw new ToolError(code, copies.size() + " of " + count + " copies were made ("
                        + String.join(", ", copies.stream().map(Sandbox::getId).toList()) + "), then: " + e.getMessage());
            }
        }
        return ToolResults.ok("Forked sandbox " + id + " into " + String.join("; ",
                copies.stream().map(SandboxSummary::line).toList()) + ".", Map.of("source_id", id,
                "sandboxes", copies.stream().map(SandboxSummary::structured).toList()));
    }

    private CallToolResult list(ToolArguments args) {
        List<Sandbox> all = daemon.blocking().list(ListSandboxesRequest.newBuilder()
                .putLabelSelector(McpSession.SESSION_LABEL, session.id()).build()).getSandboxesList();
        String text = all.isEmpty() ? "This session has no sandboxes; create one with create_sandbox."
                : String.join("\n", all.stream().map(SandboxSummary::line).toList());
        return ToolResults.ok(text, Map.of("sandboxes", all.stream().map(SandboxSummary::structured).toList()));
    }

    private CallToolResult delete(ToolArguments args) {
        String id = args.requiredString("sandbox_id");
        session.requireOwned(id);
        daemon.blocking().delete(DeleteSandboxRequest.newBuilder().setId(id).build());
        session.forget(id);
        return ToolResults.ok("Deleted sandbox " + id + ".", Map.of("sandbox_id", id, "deleted", true));
    }
}
