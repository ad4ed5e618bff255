package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.ReadFileRequest;
import dev.kelpie.api.v1.ReadFileResponse;
import dev.kelpie.api.v1.WriteFileResponse;
import dev.kelpie.api.v1.WriteFileStart;
import dev.kelpie.cli.FileUpload;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** read_file and write_file. */
final class FileTools {

    /** Bytes read_file returns when the agent names no size. */
    static final long DEFAULT_READ_BYTES = 64 * 1024;
    /** Upload chunk, as the CLI's cp sends. */
    private static final int CHUNK_BYTES = 256 * 1024;
    private static final int DEFAULT_FILE_MODE = 0644;
    private static final int MAX_FILE_MODE = 07777;

    private final McpSession session;
    private final McpLimits limits;
    private final DaemonStubs daemon;

    FileTools(McpSession session, McpLimits limits, DaemonStubs daemon) {
        this.session = session;
        this.limits = limits;
        this.daemon = daemon;
    }

    List<KelpieTool> tools(McpJsonMapper json) {
        return List.of(
                KelpieTool.of(json, "read_file", "Read a file in a sandbox", KelpieTool.Kind.READ_ONLY, """
                        Read a file from a sandbox. Text (UTF-8) comes back as is; any other content as base64, \
                        said so in the result. At most max_output_bytes are returned, with a marker when the file \
                        goes on: read the rest with offset_bytes.""", """
                        {"type": "object", "properties": {
                          "sandbox_id": {"type": "string", "description": "The sandbox."},
                          "path": {"type": "string", "description": "Absolute, or relative to /workspace."},
                          "offset_bytes": {"type": "integer", "minimum": 0, "description": "Start at this byte \
                        (default 0)."},
                          "max_output_bytes": {"type": "integer", "minimum": 1, "maximum": %d, "description": \
                        "Bytes to return at most (default %d)."}
                        }, "required": ["sandbox_id", "path"], "additionalProperties": false}""".formatted(
                        limits.maxOutputBytes(), Math.min(DEFAULT_READ_BYTES, limits.maxOutputBytes())), this::read),
                KelpieTool.of(json, "write_file", "Write a file in a sandbox", KelpieTool.Kind.CHANGES, """
                        Create or replace a file in a sandbox with the given content; missing parent directories \
                        are created. The file appears whole or not at all.""", """
                        {"type": "object", "properties": {
                          "sandbox_id": {"type": "string", "description": "The sandbox."},
                          "path": {"type": "string", "description": "Absolute, or relative to /workspace."},
                          "content": {"type": "string", "description": "The file's whole content."},
                          "encoding": {"type": "string", "enum": ["utf-8", "base64"], "description": "How content \
                        is given: utf-8 text (default) or base64 for binary data."},
                          "mode": {"type": "string", "pattern": "^0?[0-7]{3,4}$", "description": "Permission bits \
                        in octal, e.g. \\"0755\\" for a script (default \\"0644\\")."}
                        }, "required": ["sandbox_id", "path", "content"], "additionalProperties": false}""",
                        this::write));
    }

    private CallToolResult read(ToolArguments args) {
        String id = args.requiredString("sandbox_id");
        String path = args.requiredString("path");
        long offset = args.optionalLong("offset_bytes", 0, Long.MAX_VALUE).orElse(0L);
        long limit = limits.outputBytes(args.optionalLong("max_output_bytes", 1, Long.MAX_VALUE).orElse(null),
                DEFAULT_READ_BYTES);
        session.requireOwned(id);
        OutputBuffer content = new OutputBuffer(limit);
        // One byte past the limit tells whether the file goes on without reading all of it.
        Iterator<ReadFileResponse> chunks = daemon.blocking().readFile(ReadFileRequest.newBuilder().setSandboxId(id)
                .setPath(path).setOffsetBytes(offset).setLengthBytes(limit + 1).build());
        long fileSize = -1;
        while (chunks.hasNext()) {
            ReadFileResponse chunk = chunks.next();
            if (fileSize < 0) {
                fileSize = chunk.getFileSizeBytes();
                content.knownTotal(Math.max(0, fileSize - offset));
            }
            content.append(chunk.getData().toByteArray());
        }
        boolean utf8 = content.isUtf8();
        String hint = "read the rest with offset_bytes " + (offset + (utf8 ? content.textBytes() : content.keptBytes()));
        Map<String, Object> structured = new LinkedHashMap<>();
        structured.put("path", path);
        structured.put("file_size_bytes", Math.max(fileSize, 0));
        structured.put("offset_bytes", offset);
        structured.put("truncated", content.truncated());
        String text;
        if (utf8) {
            text = content.text("file", hint);
            structured.put("encoding", "utf-8");
        } else {
            String base64 = Base64.getEncoder().encodeToString(content.bytes());
            text = "(binary content, base64)\n" + base64 + (content.truncated() ? content.marker("file", hint) : "");
            structured.put("encoding", "base64");
        }
        structured.put("content", text);
        return ToolResults.ok(text, structured);
    }

    private CallToolResult write(ToolArguments args) {
        String id = args.requiredString("sandbox_id");
        String path = args.requiredString("path");
        String content = args.optionalString("content")
                .orElseThrow(() -> ToolError.invalid("'content' is required (a string; empty for an empty file)"));
        byte[] data = decode(content, args.optionalChoice("encoding", Set.of("utf-8", "base64")).orElse("utf-8"));
        int mode = args.optionalString("mode").map(FileTools::parseMode).orElse(DEFAULT_FILE_MODE);
        session.requireOwned(id);
        WriteFileStart start = WriteFileStart.newBuilder().setSandboxId(id).setPath(path).setSizeBytes(data.length)
                .setSha256(sha256(data)).setCreateParents(true).setMode(mode).build();
        WriteFileResponse written;
        try {
            written = FileUpload.send(daemon.async(DaemonStubs.CALL_TIMEOUT), start, new ByteArrayInputStream(data),
                    CHUNK_BYTES);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while writing " + path, e);
        }
        return ToolResults.ok("Wrote " + written.getSizeBytes() + " bytes to " + path + " (mode "
                + Integer.toOctalString(mode) + ").", Map.of("path", path, "size_bytes", written.getSizeBytes(),
                "sha256", written.getSha256()));
    }

    static byte[] decode(String content, String encoding) {
        if (encoding.equals("utf-8")) {
            return content.getBytes(StandardCharsets.UTF_8);
        }
        try {
            // Line breaks are common in base64 a model writes; anything else outside the alphabet is an error.
            return Base64.getDecoder().decode(content.replaceAll("\\s", ""));
        } catch (IllegalArgumentException e) {
            throw ToolError.invalid("'content' is not valid base64: " + e.getMessage());
        }
    }

    static int parseMode(String mode) {
        if (!mode.matches("0?[0-7]{3,4}")) {
            throw ToolError.invalid("'mode' must be octal permission bits such as \"0644\" or \"755\", not '" + mode + "'");
        }
        int bits = Integer.parseInt(mode, 8);
        if (bits > MAX_FILE_MODE) {
            throw ToolError.invalid("'mode' " + mode + " is more than permission bits");
        }
        return bits;
    }

    private static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
