package dev.kelpie.daemon.sandboxes;

import java.util.List;
import java.util.Map;

/**
 * What an exec in a sandbox gets unless it says otherwise: the env every process starts with, and for a sandbox from
 * an OCI image that image's working directory, user and command (Entrypoint + Cmd, for an exec with an empty argv).
 *
 * @param env the base environment; the exec's own variables win key by key
 * @param cwd empty: the agent's default (/workspace)
 * @param user empty: root
 * @param command empty: an exec must name its program
 */
public record ExecDefaults(Map<String, String> env, String cwd, String user, List<String> command) {

    public ExecDefaults {
        env = Map.copyOf(env);
        command = List.copyOf(command);
    }

    /** Defaults of a sandbox from {@code oci} (null: one booting our own root) whose own env is {@code sandboxEnv}. */
    static ExecDefaults of(Map<String, String> sandboxEnv, SandboxOciImage oci) {
        if (oci == null) {
            return new ExecDefaults(sandboxEnv, "", "", List.of());
        }
        Map<String, String> env = new java.util.HashMap<>(oci.env());
        env.putAll(sandboxEnv);
        return new ExecDefaults(env, oci.workingDir(), oci.user(), oci.command());
    }
}
