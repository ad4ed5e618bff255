package dev.kelpie.teleport.pkg;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Map;

/**
 * The settings of the sandbox a package was taken from; a restore starts from them (and may override labels and
 * timeouts).
 *
 * @param workdir the directory commands start in by default
 * @param network the sandbox's network policy; none in packages of daemons without networking
 * @param ociImage the OCI image it booted; null for the base image's own root (and in packages of older daemons)
 */
public record SourceSandbox(@JsonProperty("id") String id, @JsonProperty("vcpu_count") int vcpuCount,
        @JsonProperty("memory_mib") int memoryMib, @JsonProperty("disk_size_mib") long diskSizeMib,
        @JsonProperty("env") Map<String, String> env, @JsonProperty("labels") Map<String, String> labels,
        @JsonProperty("ttl_ms") long ttlMs, @JsonProperty("idle_timeout_ms") long idleTimeoutMs,
        @JsonProperty("workdir") String workdir, @JsonProperty("network") SourceNetwork network,
        @JsonProperty("oci_image") SourceOciImage ociImage) {

    public SourceSandbox {
        network = network == null ? SourceNetwork.NONE : network;
        env = env == null ? Map.of() : Map.copyOf(env);
        labels = labels == null ? Map.of() : Map.copyOf(labels);
    }

    /** Settings of a sandbox on the base image's own root. */
    public SourceSandbox(String id, int vcpuCount, int memoryMib, long diskSizeMib, Map<String, String> env,
            Map<String, String> labels, long ttlMs, long idleTimeoutMs, String workdir, SourceNetwork network) {
        this(id, vcpuCount, memoryMib, diskSizeMib, env, labels, ttlMs, idleTimeoutMs, workdir, network, null);
    }
}
