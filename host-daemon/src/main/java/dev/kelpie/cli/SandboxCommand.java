package dev.kelpie.cli;

import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.GetSandboxRequest;
import dev.kelpie.api.v1.IdleAction;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.NetworkMode;
import dev.kelpie.api.v1.NetworkPolicy;
import dev.kelpie.api.v1.PauseSandboxRequest;
import dev.kelpie.api.v1.PortForward;
import dev.kelpie.api.v1.ResumeSandboxRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SandboxesGrpc;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie sandbox create|ls|rm|pause|resume}. */
@Command(name = "sandbox", description = "Create, list and remove sandboxes.",
        subcommands = {SandboxCommand.Create.class, SandboxCommand.Ls.class, SandboxCommand.Show.class,
                SandboxCommand.Rm.class, SandboxCommand.Pause.class, SandboxCommand.Resume.class})
final class SandboxCommand {

    @ParentCommand
    KelpieCli cli;

    SandboxesGrpc.SandboxesBlockingStub stub() {
        return SandboxesGrpc.newBlockingStub(cli.channel());
    }

    @Command(name = "create", description = "Boot a sandbox and print its id once it is ready.")
    static final class Create implements Callable<Integer> {
        @ParentCommand
        SandboxCommand parent;

        @Option(names = "--image-version", description = "base image version (default: the newest)")
        String imageVersion = "";

        @Option(names = "--arch", description = "guest architecture, x86_64 or aarch64 (default: the daemon's);"
                + " the one that is not the host's runs emulated, many times slower")
        String arch = "";

        @Option(names = "--vcpus", description = "virtual CPUs (default: the daemon's)")
        int vcpus;

        @Option(names = "--memory-mib", description = "guest memory in MiB (default: the daemon's)")
        int memoryMib;

        @Option(names = "--disk-size-mib", description = "writable disk (/workspace and the root's changes) in MiB;"
                + " at least the image's template size, which is the default")
        int diskSizeMib;

        @Option(names = "--env", description = "KEY=VALUE for every process in the sandbox")
        Map<String, String> env = Map.of();

        @Option(names = "--label", description = "KEY=VALUE label")
        Map<String, String> labels = Map.of();

        @Option(names = "--ttl", description = "lifetime, e.g. PT1H or 3600s (default: none)", converter = DurationConverter.class)
        Duration ttl = Duration.ZERO;

        @Option(names = "--idle-timeout", description = "idle time after which --idle-action happens (default: none)",
                converter = DurationConverter.class)
        Duration idleTimeout = Duration.ZERO;

        @Option(names = "--idle-action", paramLabel = "ACTION", description = "once idle: delete (default), pause,"
                + " snapshot (state to local files, VM process ends; the next exec resumes it) or none")
        Idle idleAction = Idle.delete;

        /** The idle actions as the CLI spells them. */
        enum Idle { none, pause, snapshot, delete }

        @Option(names = "--net", paramLabel = "MODE", description = "none (default: loopback only) or egress"
                + " (outbound TCP through the daemon's allowlisting proxy)")
        Net net = Net.none;

        @Option(names = "--allow", paramLabel = "DEST", split = ",", description = "with --net egress: a host name,"
                + " *.domain, IP or CIDR (each with an optional :PORT) the guest may reach; repeatable. None: any public"
                + " address")
        List<String> allow = List.of();

        @Option(names = "--publish", paramLabel = "[HOST:]GUEST", converter = PublishConverter.class, description =
                "forward 127.0.0.1:HOST on this host to GUEST in the sandbox (no HOST: the daemon picks); repeatable")
        List<PortForward> publish = List.of();

        /** The network modes as the CLI spells them. */
        enum Net { none, egress }

        @Option(names = "--oci", paramLabel = "REFERENCE", description = "boot this OCI image's files as the root"
                + " (pulled when not cached) on the base image's kernel; its Env, WorkingDir, User and Entrypoint + Cmd"
                + " become the exec defaults")
        String ociImage = "";

        @Override
        public Integer call() {
            NetworkPolicy network = NetworkPolicy.newBuilder().setMode(net == Net.egress
                    ? NetworkMode.NETWORK_MODE_EGRESS : NetworkMode.NETWORK_MODE_NONE).addAllAllow(allow)
                    .addAllPortForwards(publish).build();
            Sandbox s = parent.stub().create(CreateSandboxRequest.newBuilder().setSpec(SandboxSpec.newBuilder()
                    .setImageVersion(imageVersion).setArch(arch).setVcpuCount(vcpus).setMemoryMib(memoryMib).setDiskSizeMib(diskSizeMib)
                    .putAllEnv(env)
                    .putAllLabels(labels).setTtlMs(ttl.toMillis()).setIdleTimeoutMs(idleTimeout.toMillis())
                    .setIdleAction(idleTimeout.isZero() && idleAction == Idle.delete ? IdleAction.IDLE_ACTION_UNSPECIFIED
                            : IdleAction.valueOf("IDLE_ACTION_" + idleAction.name().toUpperCase(java.util.Locale.ROOT)))
                    .setNetwork(network).setOciImage(ociImage)).build())
                    .getSandbox();
            System.out.println(s.getId());
            // The id alone goes to stdout, for scripts; where the ports ended up is for the person.
            for (PortForward f : s.getPortForwardsList()) {
                System.err.printf("published 127.0.0.1:%d -> guest port %d%n", f.getHostPort(), f.getGuestPort());
            }
            return 0;
        }
    }

    @Command(name = "ls", description = "List sandboxes.")
    static final class Ls implements Callable<Integer> {
        @ParentCommand
        SandboxCommand parent;

        @Option(names = "--label", description = "only sandboxes with this KEY=VALUE label")
        Map<String, String> labels = Map.of();

        @Override
        public Integer call() {
            List<Sandbox> all = parent.stub().list(ListSandboxesRequest.newBuilder().putAllLabelSelector(labels).build())
                    .getSandboxesList();
            System.out.printf("%-14s %-9s %-24s %-7s %5s %7s  %s%n", "ID", "STATE", "IMAGE", "ARCH", "VCPU", "MEM MiB", "CREATED");
            for (Sandbox s : all) {
                System.out.printf("%-14s %-9s %-24s %-7s %5d %7d  %s%n", s.getId(),
                        s.getState().name().replace("SANDBOX_STATE_", "").toLowerCase(), s.getImageVersion(), s.getArch(),
                        s.getSpec().getVcpuCount(), s.getSpec().getMemoryMib(), Instant.ofEpochMilli(s.getCreatedAtUnixMs()));
                if (!s.getFailureReason().isEmpty()) {
                    System.out.println("    " + s.getFailureReason().lines().findFirst().orElse(""));
                }
            }
            return 0;
        }
    }

    @Command(name = "rm", description = "Stop sandboxes and remove everything they owned.")
    static final class Rm implements Callable<Integer> {
        @ParentCommand
        SandboxCommand parent;

        @Parameters(arity = "1..*", paramLabel = "ID")
        List<String> ids;

        @Override
        public Integer call() {
            ids.forEach(id -> parent.stub().delete(DeleteSandboxRequest.newBuilder().setId(id).build()));
            return 0;
        }
    }

    /** A command that names one sandbox and changes its state. */
    abstract static class OneSandbox implements Callable<Integer> {
        @ParentCommand
        SandboxCommand parent;

        @Parameters(paramLabel = "ID")
        String id;

        abstract void apply(SandboxesGrpc.SandboxesBlockingStub stub, String sandboxId);

        @Override
        public Integer call() {
            apply(parent.stub(), id);
            return 0;
        }
    }

    @Command(name = "show", description = "Print one sandbox: state, shape, image and what its guest can reach.")
    static final class Show extends OneSandbox {
        @Override
        void apply(SandboxesGrpc.SandboxesBlockingStub stub, String sandboxId) {
            Sandbox s = stub.get(GetSandboxRequest.newBuilder().setId(sandboxId).build()).getSandbox();
            System.out.printf("id:       %s%nstate:    %s%nimage:    %s (%s) on %s%nshape:    %d vCPU, %d MiB%n"
                    + "network:  %s%n", s.getId(), s.getState().name().replace("SANDBOX_STATE_", "").toLowerCase(),
                    s.getImageVersion(), s.getArch() + (s.getEmulated() ? ", emulated" : ""), s.getBackend(),
                    s.getSpec().getVcpuCount(),
                    s.getSpec().getMemoryMib(), s.getNetworkReachability());
            for (PortForward f : s.getPortForwardsList()) {
                System.out.printf("publish:  127.0.0.1:%d -> guest port %d%n", f.getHostPort(), f.getGuestPort());
            }
            if (!s.getRestoredFromPackageId().isEmpty()) {
                System.out.println("restored: from package " + s.getRestoredFromPackageId());
            }
            if (!s.getFailureReason().isEmpty()) {
                System.out.println("failure:  " + s.getFailureReason());
            }
        }
    }

    @Command(name = "pause", description = "Freeze a sandbox's VM.")
    static final class Pause extends OneSandbox {
        @Override
        void apply(SandboxesGrpc.SandboxesBlockingStub stub, String sandboxId) {
            stub.pause(PauseSandboxRequest.newBuilder().setId(sandboxId).build());
        }
    }

    @Command(name = "resume", description = "Thaw a paused sandbox.")
    static final class Resume extends OneSandbox {
        @Override
        void apply(SandboxesGrpc.SandboxesBlockingStub stub, String sandboxId) {
            stub.resume(ResumeSandboxRequest.newBuilder().setId(sandboxId).build());
        }
    }
}
