package dev.kelpie.daemon.sandboxes;

import java.util.List;
import java.util.Map;

/**
 * The OCI image a sandbox booted, as its record keeps it: kept with the sandbox (not looked up in the cache) so that
 * its exec defaults survive the image's removal from the cache and a daemon restart.
 *
 * @param reference the reference the client asked for
 * @param manifestDigest {@code sha256:HEX} of the manifest it resolved to
 * @param repository {@code registry/repository}
 * @param env the image's Env as a map (a later duplicate wins, as in a container runtime)
 * @param workingDir empty for none
 * @param user empty for none
 * @param command Entrypoint followed by Cmd; empty when the image has neither
 * @param rootSha256 the sha256 (hex) of the root it booted, which its {@code vm} packages pin; empty in records
 *     written before roots were hashed
 */
public record SandboxOciImage(String reference, String manifestDigest, String repository, Map<String, String> env,
        String workingDir, String user, List<String> command, String rootSha256) {

    public SandboxOciImage {
        env = Map.copyOf(env);
        command = List.copyOf(command);
        rootSha256 = rootSha256 == null ? "" : rootSha256;
    }

    public SandboxOciImage(String reference, String manifestDigest, String repository, Map<String, String> env,
            String workingDir, String user, List<String> command) {
        this(reference, manifestDigest, repository, env, workingDir, user, command, "");
    }
}
