package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.Sandbox;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** A sandbox as a tool result shows it: one line of text for the model, a map for programs. */
final class SandboxSummary {

    private SandboxSummary() {}

    static boolean kept(Sandbox s) {
        return "true".equals(s.getSpec().getLabelsMap().get(McpSession.KEEP_LABEL));
    }

    static String state(Sandbox s) {
        return s.getState().name().replace("SANDBOX_STATE_", "").toLowerCase(Locale.ROOT);
    }

    static String line(Sandbox s) {
        return s.getId() + ": " + state(s) + ", image " + s.getImageVersion() + " (" + s.getArch() + "), "
                + s.getSpec().getVcpuCount() + " vCPU, " + s.getSpec().getMemoryMib() + " MiB memory, "
                + (s.getSpec().getDiskSizeMib() > 0 ? s.getSpec().getDiskSizeMib() + " MiB disk, " : "")
                + "network: " + s.getNetworkReachability() + "; "
                + (kept(s) ? "kept after this session" : "deleted when this session ends");
    }

    static Map<String, Object> structured(Sandbox s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sandbox_id", s.getId());
        m.put("state", state(s));
        m.put("image_version", s.getImageVersion());
        m.put("arch", s.getArch());
        m.put("vcpus", s.getSpec().getVcpuCount());
        m.put("memory_mib", s.getSpec().getMemoryMib());
        m.put("disk_mib", s.getSpec().getDiskSizeMib());
        m.put("network", s.getNetworkReachability());
        m.put("keep", kept(s));
        return m;
    }
}
