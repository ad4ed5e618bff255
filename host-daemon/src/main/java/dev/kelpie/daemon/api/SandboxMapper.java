package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.daemon.sandboxes.IdleAction;
import dev.kelpie.daemon.hypervisor.probe.HostPlatform;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import dev.kelpie.daemon.network.PortForward;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;

/** Sandboxes between the API's messages and the manager's records. */
final class SandboxMapper {

    /** Labels and env are small metadata; a request beyond these is a mistake or an attack. */
    static final int MAX_MAP_ENTRIES = 256;
    static final int MAX_KEY_CHARS = 256;
    static final int MAX_VALUE_CHARS = 16 * 1024;
    /** A guest of another architecture runs emulated. */
    private static final String HOST_ARCH = HostPlatform.current().arch();

    private SandboxMapper() {}

    /**
     * @param servedBackend the backend this daemon boots new VMs with; a spec naming another is refused
     */
    static SandboxConfig toConfig(SandboxSpec spec, String servedBackend) {
        if (!spec.getBackend().isEmpty() && !spec.getBackend().equals(servedBackend)) {
            throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "backend '" + spec.getBackend()
                    + "' is not served by this daemon (it serves " + servedBackend + "; kelpied --backend chooses)");
        }
        checkMap("spec.env", spec.getEnvMap());
        checkMap("spec.labels", spec.getLabelsMap());
        return new SandboxConfig(spec.getImageVersion(), unsigned("spec.vcpu_count", spec.getVcpuCount()),
                unsigned("spec.memory_mib", spec.getMemoryMib()), unsigned("spec.disk_size_mib", spec.getDiskSizeMib()),
                spec.getEnvMap(), spec.getLabelsMap(), unsigned("spec.ttl_ms", spec.getTtlMs()),
                unsigned("spec.idle_timeout_ms", spec.getIdleTimeoutMs()), toPolicy(spec.getNetwork()),
                toIdleAction(spec), spec.getArch(), spec.getOciImage().strip());
    }

    /** Unset means delete, what an idle timeout always did; an action other than none needs a timeout. */
    static IdleAction toIdleAction(SandboxSpec spec) {
        IdleAction action = switch (spec.getIdleAction()) {
            case IDLE_ACTION_UNSPECIFIED, IDLE_ACTION_DELETE -> IdleAction.DELETE;
            case IDLE_ACTION_NONE -> IdleAction.NONE;
            case IDLE_ACTION_PAUSE -> IdleAction.PAUSE;
            case IDLE_ACTION_SNAPSHOT -> IdleAction.SNAPSHOT;
            case UNRECOGNIZED -> throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "spec.idle_action " + spec.getIdleActionValue()
                    + " is not an idle action (none = 1, pause = 2, snapshot = 3, delete = 4)");
        };
        if (spec.getIdleAction() != dev.kelpie.api.v1.IdleAction.IDLE_ACTION_UNSPECIFIED
                && action != IdleAction.NONE && spec.getIdleTimeoutMs() == 0) {
            throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "spec.idle_action " + action.name().toLowerCase()
                    + " needs spec.idle_timeout_ms, the idle time after which it happens");
        }
        return action;
    }

    static dev.kelpie.api.v1.IdleAction toProto(IdleAction action) {
        return switch (action) {
            case NONE -> dev.kelpie.api.v1.IdleAction.IDLE_ACTION_NONE;
            case PAUSE -> dev.kelpie.api.v1.IdleAction.IDLE_ACTION_PAUSE;
            case SNAPSHOT -> dev.kelpie.api.v1.IdleAction.IDLE_ACTION_SNAPSHOT;
            case DELETE -> dev.kelpie.api.v1.IdleAction.IDLE_ACTION_DELETE;
        };
    }

    /**
     * A {@code uint32} as sent: Java reads one above 2^31 - 1 as negative, which no limit check would catch.
     *
     * @throws io.grpc.StatusRuntimeException INVALID_ARGUMENT naming the field and the largest value it takes
     */
    static int unsigned(String field, int wire) {
        if (wire < 0) {
            throw GrpcErrors.of(ErrorKind.BAD_REQUEST, field + " " + Integer.toUnsignedString(wire)
                    + " is out of range: at most " + Integer.MAX_VALUE + " (and the daemon's per-sandbox limit)");
        }
        return wire;
    }

    /** A {@code uint64} as sent; one above 2^63 - 1 is refused the same way. */
    static long unsigned(String field, long wire) {
        if (wire < 0) {
            throw GrpcErrors.of(ErrorKind.BAD_REQUEST, field + " " + Long.toUnsignedString(wire)
                    + " is out of range: at most " + Long.MAX_VALUE);
        }
        return wire;
    }

    /** The policy a request asks for; a bad entry is INVALID_ARGUMENT naming it. */
    static NetworkPolicy toPolicy(dev.kelpie.api.v1.NetworkPolicy network) {
        NetworkMode mode = switch (network.getMode()) {
            case NETWORK_MODE_UNSPECIFIED, NETWORK_MODE_NONE -> NetworkMode.NONE;
            case NETWORK_MODE_EGRESS -> NetworkMode.EGRESS;
            case UNRECOGNIZED -> throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "spec.network.mode "
                    + network.getModeValue() + " is not a network mode (none = 1, egress = 2)");
        };
        try {
            List<PortForward> forwards = new ArrayList<>();
            for (dev.kelpie.api.v1.PortForward f : network.getPortForwardsList()) {
                forwards.add(new PortForward(f.getHostPort(), f.getGuestPort()));
            }
            return new NetworkPolicy(mode, network.getAllowList(), forwards);
        } catch (IllegalArgumentException e) {
            throw GrpcErrors.of(ErrorKind.BAD_REQUEST, "spec.network: " + e.getMessage());
        }
    }

    static dev.kelpie.api.v1.NetworkPolicy toProto(NetworkPolicy policy) {
        return dev.kelpie.api.v1.NetworkPolicy.newBuilder()
                .setMode(policy.mode() == NetworkMode.EGRESS ? dev.kelpie.api.v1.NetworkMode.NETWORK_MODE_EGRESS : dev.kelpie.api.v1.NetworkMode.NETWORK_MODE_NONE)
                .addAllAllow(policy.allow()).addAllPortForwards(toProto(policy.forwards())).build();
    }

    private static List<dev.kelpie.api.v1.PortForward> toProto(List<PortForward> forwards) {
        return forwards.stream().map(f -> dev.kelpie.api.v1.PortForward.newBuilder().setHostPort(f.hostPort())
                .setGuestPort(f.guestPort()).build()).toList();
    }

    /** The labels a Fork puts on its copies, checked like a spec's. */
    static java.util.Map<String, String> forkLabels(java.util.Map<String, String> labels) {
        checkMap("labels", labels);
        return labels;
    }

    private static void checkMap(String field, java.util.Map<String, String> map) {
        if (map.size() > MAX_MAP_ENTRIES) {
            throw GrpcErrors.of(ErrorKind.BAD_REQUEST, field + " has " + map.size() + " entries; at most "
                    + MAX_MAP_ENTRIES + " are allowed");
        }
        for (var e : map.entrySet()) {
            if (e.getKey().isEmpty() || e.getKey().length() > MAX_KEY_CHARS || e.getKey().indexOf('=') >= 0
                    || e.getKey().indexOf('\0') >= 0) {
                throw GrpcErrors.of(ErrorKind.BAD_REQUEST, field + " key '" + abbreviate(e.getKey())
                        + "' must be 1.." + MAX_KEY_CHARS + " characters without '=' or NUL");
            }
            if (e.getValue().length() > MAX_VALUE_CHARS || e.getValue().indexOf('\0') >= 0) {
                throw GrpcErrors.of(ErrorKind.BAD_REQUEST, field + "['" + abbreviate(e.getKey()) + "'] must be at most "
                        + MAX_VALUE_CHARS + " characters without NUL");
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
                .setNetwork(toProto(c.network())).setIdleAction(toProto(c.idleAction())).setArch(r.arch())
                .setOciImage(c.ociImage()).build();
        // The forwards that exist are those the VM's process holds; a sandbox without a VM has none.
        List<PortForward> established = r.vm() == null ? List.of() : r.vm().portForwards();
        return Sandbox.newBuilder().setId(r.id()).setSpec(spec).setState(toProto(r.state()))
                .setFailureReason(r.failureReason()).setCreatedAtUnixMs(r.createdAtMs()).setBackend(r.backend())
                .setArch(r.arch()).setEmulated(!r.arch().equals(HOST_ARCH)).setImageVersion(r.imageVersion())
                .setFromPool(r.fromPool())
                .setLastActivityUnixMs(r.lastActivityMs())
                .setRestoredFromPackageId(r.restoredFromPackageId()).addAllPortForwards(toProto(established))
                .setNetworkReachability(c.network().withForwards(r.vm() == null ? c.network().forwards() : established)
                        .reachability())
                .setUsage(StatsMapper.toProto(r.usage()))
                .setOciManifestDigest(r.oci() == null ? "" : r.oci().manifestDigest())
                .setOciRepository(r.oci() == null ? "" : r.oci().repository())
                .build();
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
            case SUSPENDED -> SandboxState.SANDBOX_STATE_SUSPENDED;
        };
    }
}
