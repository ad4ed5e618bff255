package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.RestoreResponse;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SnapshotKind;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.api.v1.SnapshotResponse;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** snapshot_sandbox and restore_sandbox: teleport packages in the daemon's default store. */
final class PackageTools {

    private static final Set<String> KINDS = Set.of("checkpoint", "vm");

    private final McpSession session;
    private final DaemonStubs daemon;
    private final SandboxAdoption adoption;

    PackageTools(McpSession session, DaemonStubs daemon, SandboxAdoption adoption) {
        this.session = session;
        this.daemon = daemon;
        this.adoption = adoption;
    }

    List<KelpieTool> tools(McpJsonMapper json) {
        return List.of(
                KelpieTool.of(json, "snapshot_sandbox", "Snapshot a sandbox", KelpieTool.Kind.CHANGES, """
                        Save a sandbox into a package that restore_sandbox can turn into a new sandbox later, also \
                        after this session. A checkpoint (default) keeps the files of /workspace and the sandbox's \
                        settings, not running processes; a vm snapshot keeps the whole machine state, processes \
                        included. The sandbox keeps running.""", """
                        {"type": "object", "properties": {
                          "sandbox_id": {"type": "string", "description": "The sandbox to save."},
                          "kind": {"type": "string", "enum": ["checkpoint", "vm"], "description": "checkpoint \
                        (default): files and settings, restorable on other image patch versions. vm: the whole \
                        running machine, same image only."}
                        }, "required": ["sandbox_id"], "additionalProperties": false}""", this::snapshot),
                KelpieTool.of(json, "restore_sandbox", "Restore a sandbox from a snapshot", KelpieTool.Kind.CHANGES, """
                        Make a new sandbox of this session from a package that snapshot_sandbox returned. Its \
                        network is what 'network' and 'allow' say here (none by default), never the package's.""", """
                        {"type": "object", "properties": {
                          "package_id": {"type": "string", "description": "The package id from snapshot_sandbox."},
                          "image_version": {"type": "string", "description": "Checkpoints only: restore onto this \
                        base image version (same MAJOR.MINOR as the package's). Omit for the package's own."},
                          "network": {"type": "string", "enum": ["none", "egress"], "description": "As for \
                        create_sandbox (default none)."},
                          "allow": {"type": "array", "items": {"type": "string"}, "description": "As for \
                        create_sandbox."},
                          "keep": {"type": "boolean", "description": "true: the new sandbox stays after this MCP \
                        session ends. Default false."}
                        }, "required": ["package_id"], "additionalProperties": false}""", this::restore));
    }

    private CallToolResult snapshot(ToolArguments args) {
        String id = args.requiredString("sandbox_id");
        SnapshotKind kind = args.optionalChoice("kind", KINDS).orElse("checkpoint").equals("vm")
                ? SnapshotKind.SNAPSHOT_KIND_VM : SnapshotKind.SNAPSHOT_KIND_CHECKPOINT;
        session.requireOwned(id);
        SnapshotResponse response = daemon.blocking(DaemonStubs.SLOW_CALL_TIMEOUT)
                .snapshot(SnapshotRequest.newBuilder().setSandboxId(id).setKind(kind).build());
        PackageSummary p = response.getPackage();
        Map<String, Object> structured = new LinkedHashMap<>();
        structured.put("package_id", p.getId());
        structured.put("kind", kind == SnapshotKind.SNAPSHOT_KIND_VM ? "vm" : "checkpoint");
        structured.put("image_version", p.getImageVersion());
        structured.put("size_bytes", p.getSizeBytes());
        structured.put("warnings", response.getWarningsList());
        return ToolResults.ok("Saved sandbox " + id + " as package " + p.getId() + " (" + structured.get("kind")
                + ", image " + p.getImageVersion() + ", " + p.getSizeBytes() + " bytes). Restore it with"
                + " restore_sandbox." + warnings(response.getWarningsList()), structured);
    }

    private CallToolResult restore(ToolArguments args) {
        String packageId = args.requiredString("package_id");
        boolean keep = args.flag("keep");
        // The package's labels come along; ours replace its session and keep labels (it may come from a kept sandbox).
        SandboxSpec overrides = SandboxSpec.newBuilder().putAllLabels(session.labels(keep))
                .setNetwork(adoption.network(args)).build();
        RestoreRequest request = RestoreRequest.newBuilder().setPackageId(packageId)
                .setImageVersion(args.optionalString("image_version").orElse("")).setSpecOverrides(overrides).build();
        RestoreResponse[] response = new RestoreResponse[1];
        Sandbox s = adoption.adopt(() -> {
            response[0] = daemon.blocking(DaemonStubs.SLOW_CALL_TIMEOUT).restore(request);
            return response[0].getSandbox();
        }, keep);
        return ToolResults.ok("Restored package " + packageId + " as sandbox " + SandboxSummary.line(s) + "."
                + warnings(response[0].getWarningsList()), SandboxSummary.structured(s));
    }

    private static String warnings(List<String> warnings) {
        return warnings.isEmpty() ? "" : "\nWarnings: " + String.join("; ", warnings);
    }
}
