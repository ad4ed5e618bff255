package dev.kelpie.cli;

import dev.kelpie.api.v1.ReadFileRequest;
import dev.kelpie.api.v1.ReadFileResponse;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.WriteFileStart;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code kelpie cp SRC DST}: one side is {@code ID:PATH} in a sandbox, the other a local file. Uploads are checked
 * by size and sha256 in the guest before they appear; downloads land in a temporary file renamed at the end.
 */
@Command(name = "cp", description = "Copy a file into or out of a sandbox (ID:PATH on one side).")
final class CopyCommand implements Callable<Integer> {

    private static final int CHUNK_BYTES = 256 * 1024;

    @ParentCommand
    KelpieCli cli;

    @Parameters(index = "0", paramLabel = "SRC")
    String source;

    @Parameters(index = "1", paramLabel = "DST")
    String destination;

    record Remote(String sandboxId, String path) {
        static Remote parse(String spec) {
            int colon = spec.indexOf(':');
            return colon > 0 && !spec.startsWith("/") && !spec.startsWith(".") ? new Remote(spec.substring(0, colon),
                    spec.substring(colon + 1)) : null;
        }
    }

    @Override
    public Integer call() throws Exception {
        Remote from = Remote.parse(source);
        Remote to = Remote.parse(destination);
        if ((from == null) == (to == null)) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                    "exactly one of SRC and DST must be ID:PATH in a sandbox");
        }
        if (to != null) {
            upload(Path.of(source), to);
        } else {
            download(from, Path.of(destination));
        }
        return 0;
    }

    private void upload(Path local, Remote to) throws Exception {
        long size = Files.size(local);
        String sha256 = sha256(local);
        WriteFileStart start = WriteFileStart.newBuilder().setSandboxId(to.sandboxId()).setPath(to.path())
                .setSizeBytes(size).setSha256(sha256).setCreateParents(true)
                .setMode(Files.isExecutable(local) ? 0755 : 0644).build();
        try (InputStream in = Files.newInputStream(local)) {
            FileUpload.send(SandboxesGrpc.newStub(cli.channel()), start, in, CHUNK_BYTES);
        }
    }

    private void download(Remote from, Path local) throws Exception {
        Path target = Files.isDirectory(local) ? local.resolve(Path.of(from.path()).getFileName()) : local;
        Path temp = Files.createTempFile(target.toAbsolutePath().getParent(), ".kelpie-cp-", ".part");
        try {
            Iterator<ReadFileResponse> chunks = SandboxesGrpc.newBlockingStub(cli.channel())
                    .readFile(ReadFileRequest.newBuilder().setSandboxId(from.sandboxId()).setPath(from.path()).build());
            try (OutputStream out = Files.newOutputStream(temp)) {
                while (chunks.hasNext()) {
                    chunks.next().getData().writeTo(out);
                }
            }
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    private static String sha256(Path file) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[CHUNK_BYTES];
            int n;
            while ((n = in.read(buffer)) > 0) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }
}
