package dev.kelpie.daemon.images.oci;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * What an image's config says about running it: the defaults a sandbox's execs take from the image.
 *
 * @param env {@code NAME=value} entries, in the image's order
 * @param workingDir empty for {@code /}
 * @param user empty for root; {@code name}, {@code uid}, {@code uid:gid} or {@code name:group} as the image says
 */
public record OciImageConfig(OciPlatform platform, List<String> env, String workingDir, String user,
        List<String> entrypoint, List<String> cmd) {

    public OciImageConfig {
        env = List.copyOf(env);
        entrypoint = List.copyOf(entrypoint);
        cmd = List.copyOf(cmd);
    }

    /** Reads the parts of an image config (OCI image-spec config.md) that Kelpie uses. */
    public static OciImageConfig parse(JsonNode root) {
        JsonNode c = root.path("config");
        return new OciImageConfig(new OciPlatform(root.path("os").asText(""), root.path("architecture").asText(""),
                root.path("variant").asText("")), strings(c.path("Env")), c.path("WorkingDir").asText(""),
                c.path("User").asText(""), strings(c.path("Entrypoint")), strings(c.path("Cmd")));
    }

    /** What an exec with an empty command runs: Entrypoint followed by Cmd, as a container runtime would. */
    public List<String> defaultCommand() {
        List<String> command = new ArrayList<>(entrypoint);
        command.addAll(cmd);
        return command;
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        if (array.isArray()) {
            array.forEach(n -> out.add(n.asText()));
        }
        return out;
    }
}
