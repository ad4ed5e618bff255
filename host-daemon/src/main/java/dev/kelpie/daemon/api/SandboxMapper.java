package dev.kelpie.daemon.api;

import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import io.grpc.Status;

/** Sandboxes between the API's messages and the manager's records. */
final class SandboxMapper {

    /** Labels and env are small metadata; a request beyond these is a mistake or an attack. */
    static final int MAX_MAP_ENTRIES = 256;
    static final int MAX_KEY_CHARS = 256;
    static final int MAX_VALUE_CHARS = 16 * 1024;

    private SandboxMapper() {}

    /**
     * @param servedBackend the backend this daemon boots new VMs with; a spec naming another is refused
     */
    static SandboxConfig toConfig(SandboxSpec spec, String servedBackend) {
        if (spec.hasNetwork() && spec.getNetwork().getModeValue() > 1) {
            throw Status.UNIMPLEMENTED.withDescription("network mode " + spec.getNetwork().getMode()
                    + " is not available yet; sandboxes have no network").asRuntimeException();
        }
        if (!spec.getBackend().isEmpty() && !spec.getBackend().equals(servedBackend)) {
            throw Status.INVALID_ARGUMENT.withDescription("backend '" + spec.getBackend()
                    + "' is not served by this daemon (it serves " + servedBackend + "; kelpied --backend chooses)")
                    .asRuntimeException();
        }
        checkMap("spec.env", spec.getEnvMap());
        checkMap("spec.labels", spec.getLabelsMap());
        return new SandboxConfig(spec.getImageVersion(), spec.getVcpuCount(), spec.getMemoryMib(), spec.getDiskSizeMib(),
                spec.getEnvMap(), spec.getLabelsMap(), spec.getTtlMs(), spec.getIdleTimeoutMs());
    }

    private static void checkMap(String field, java.util.Map<String, String> map) {
        if (map.size() > MAX_MAP_ENTRIES) {
            throw Status.INVALID_ARGUMENT.withDescription(field + " has " + map.size() + " entries; at most "
                    + MAX_MAP_ENTRIES + " are allowed").asRuntimeException();
        }
        for (var e : map.entrySet()) {
            if (e.getKey().isEmpty() || e.getKey().length() > MAX_KEY_CHARS || e.getKey().indexOf('=') >= 0
                    || e.getKey().indexOf('\0') >= 0) {
                throw Status.INVALID_ARGUMENT.withDescription(field + " key '" + abbreviate(e.getKey())
                        + "' must be 1.." + MAX_KEY_CHARS + " characters without '=' or NUL").asRuntimeException();
            }
            if (e.getValue().length() > MAX_VALUE_CHARS || e.getValue().indexOf('\0') >= 0) {
                throw Status.INVALID_ARGUMENT.withDescription(field + "['" + abbreviate(e.getKey()) + "'] must be at most "
                        + MAX_VALUE_CHARS + " characters without NUL").asRuntimeException();
            }
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "…";
    }

    static Sandbox toProto(SandboxRecord r) {
        SandboxConfig c = r.config();
        SandboxSpec spec = SandboxSpec.newBuilder().setImageVersion(r.imageVersion()).setVcpuCount(c.vcpuCount())
                .setMemoryMib(c.memoryMib()).setDiskSizeMib((int) c.diskSizeMib()).putAllEnv(c.env())
                .putAllLabels(c.labels()).setTtlMs(c.ttlMs()).setIdleTimeoutMs(c.idleTimeoutMs()).setBackend(r.backend())
                .build();
        return Sandbox.newBuilder().setId(r.id()).setSpec(spec).setState(toProto(r.state()))
                .setFailureReason(r.failureReason()).setCreatedAtUnixMs(r.createdAtMs()).setBackend(r.backend())
                .setArch(r.arch()).setImageVersion(r.imageVersion()).setFromPool(r.fromPool())
                .setLastActivityUnixMs(r.lastActivityMs()).build();
    }

    static SandboxState toProto(dev.kelpie.daemon.sandboxes.SandboxState state) {
        if (state == null) {
            return SandboxState.SANDBOX_STATE_UNSPECIFIED;
        }
        return switch (state) {
            case CREATING -> SandboxState.SANDBOX_STATE_CREATING;
            case READY -> SandboxState.SANDBOX_STATE_READY;
            case PAUSED -> SandboxState.SANDBOX_STATE_PAUSED;
            case STOPPING -> SandboxState.SANDBOX_STATE_STOPPING;
            case STOPPED -> SandboxState.SANDBOX_STATE_STOPPED;
            case FAILED -> SandboxState.SANDBOX_STATE_FAILED;
        };
    }
}
