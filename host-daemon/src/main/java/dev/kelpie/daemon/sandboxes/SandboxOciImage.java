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
 */
public record SandboxOciImage(String reference, String manifestDigest, String repository, Map<String, String> env,
        String workingDir, String user, List<String> command) {

    public SandboxOciImage {
        env = Map.copyOf(env);
        command = List.copyOf(command);
    }
}
