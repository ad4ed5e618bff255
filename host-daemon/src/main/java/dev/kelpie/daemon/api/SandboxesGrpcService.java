package dev.kelpie.daemon.api;

import dev.kelpie.daemon.errors.ErrorKind;
import dev.kelpie.api.v1.ForkSandboxRequest;
import dev.kelpie.api.v1.ForkSandboxResponse;
import dev.kelpie.api.v1.RestoreRequest;
import dev.kelpie.api.v1.RestoreResponse;
import dev.kelpie.api.v1.SandboxSpec;
import dev.kelpie.api.v1.SnapshotRequest;
import dev.kelpie.api.v1.SnapshotResponse;
import dev.kelpie.daemon.teleport.RestoreOverrides;
import dev.kelpie.daemon.teleport.Restorer;
import dev.kelpie.daemon.teleport.Snapshotter;

import dev.kelpie.agent.v1.AgentGrpc;
import dev.kelpie.api.v1.AttachRequest;
import dev.kelpie.api.v1.AttachResponse;
import dev.kelpie.api.v1.CreateSandboxRequest;
import dev.kelpie.api.v1.CreateSandboxResponse;
import dev.kelpie.api.v1.DeleteSandboxRequest;
import dev.kelpie.api.v1.DeleteSandboxResponse;
import dev.kelpie.api.v1.ExecInteractiveRequest;
import dev.kelpie.api.v1.ExecInteractiveResponse;
import dev.kelpie.api.v1.ExecRequest;
import dev.kelpie.api.v1.ExecResponse;
import dev.kelpie.api.v1.GetSandboxRequest;
import dev.kelpie.api.v1.GetSandboxResponse;
import dev.kelpie.api.v1.ListProcessesRequest;
import dev.kelpie.api.v1.ListProcessesResponse;
import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.ListSandboxesResponse;
import dev.kelpie.api.v1.PauseSandboxRequest;
import dev.kelpie.api.v1.PauseSandboxResponse;
import dev.kelpie.api.v1.ReadFileRequest;
import dev.kelpie.api.v1.ReadFileResponse;
import dev.kelpie.api.v1.ResumeSandboxRequest;
import dev.kelpie.api.v1.ResumeSandboxResponse;
import dev.kelpie.api.v1.SandboxesGrpc;
import dev.kelpie.api.v1.SignalRequest;
import dev.kelpie.api.v1.SignalResponse;
import dev.kelpie.api.v1.StdinMode;
import dev.kelpie.api.v1.WatchSandboxesRequest;
import dev.kelpie.api.v1.WatchSandboxesResponse;
import dev.kelpie.api.v1.WriteFileRequest;
import dev.kelpie.api.v1.WriteFileResponse;
import dev.kelpie.api.v1.SandboxStatsRequest;
import dev.kelpie.api.v1.SandboxStatsResponse;
import dev.kelpie.daemon.metrics.SandboxMetrics;
import dev.kelpie.daemon.stats.HostResources;
import dev.kelpie.daemon.stats.SandboxStatsSampler;
import dev.kelpie.daemon.sandboxes.SandboxEvent;
import dev.kelpie.daemon.sandboxes.SandboxConfig;
import dev.kelpie.daemon.sandboxes.SandboxManager;
import dev.kelpie.daemon.sandboxes.SandboxNotFoundException;
import dev.kelpie.daemon.sandboxes.SandboxRecord;
import dev.kelpie.api.v1.Sandbox;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.TimeUnit;

/**
 * gRPC adapter for {@code kelpie.v1.Sandboxes}. Lifecycle calls block their call thread (a boot takes seconds);
 * process and file streams are relayed to the sandbox's agent asynchronously, with flow control end to end.
 */
public class SandboxesGrpcService extends SandboxesGrpc.SandboxesImplBase {

    static final long AGENT_UNARY_TIMEOUT_MS = 30_000;

    private final SandboxManager manager;
    private final SandboxMetrics metrics;
    private final FileTransfers files;
    private final ProcessStreams processes;

    private final Snapshotter snapshotter;
    private final Restorer restorer;
    private final StatsStreams stats;

    /** A service whose Stats reads nothing of the host (simulations: their VMs have no real process). */
    private final SandboxStatsSampler sampler;

    public SandboxesGrpcService(SandboxManager manager, SandboxMetrics metrics, Snapshotter snapshotter,
            Restorer restorer, java.time.Duration uploadIdle) {
        this(manager, metrics, snapshotter, restorer, uploadIdle, new SandboxStatsSampler(manager,
                HostResources.NONE, java.time.Clock.systemUTC()));
    }

    /**
     * @param uploadIdle how long a WriteFile may wait for its client's next message
     * @param sampler what Stats streams
     */
    public SandboxesGrpcService(SandboxManager manager, SandboxMetrics metrics, Snapshotter snapshotter,
            Restorer restorer, java.time.Duration uploadIdle, SandboxStatsSampler sampler) {
        this.manager = manager;
        this.stats = new StatsStreams(sampler, manager.events());
        this.sampler = sampler;
        this.metrics = metrics;
        this.snapshotter = snapshotter;
        this.restorer = restorer;
        this.files = new FileTransfers(manager, uploadIdle);
        this.processes = new ProcessStreams(manager, metrics);
    }

    @Override
    public void create(CreateSandboxRequest request, StreamObserver<CreateSandboxResponse> out) {
        unary(out, () -> {
            long startNanos = System.nanoTime();
            SandboxRecord created = null;
            try {
                created = manager.create(SandboxMapper.toConfig(request.getSpec(), manager.backendName()));
                return CreateSandboxResponse.newBuilder().setSandbox(SandboxMapper.toProto(created)).build();
            } finally {
                metrics.created(java.time.Duration.ofNanos(System.nanoTime() - startNanos),
                        created != null && created.fromPool(), created != null);
            }
        });
    }

    @Override
    public void snapshot(SnapshotRequest request, StreamObserver<SnapshotResponse> out) {
        unary(out, () -> {
            Snapshotter.Snapshot snapshot = snapshotter.snapshot(request.getSandboxId(),
                    PackageMapper.fromProto(request.getKind()), request.getStore(), request.getLabelsMap(),
                    request.getStopAfter());
            return SnapshotResponse.newBuilder().setPackage(PackageMapper.toProto(snapshot.manifest(), snapshot.storeName()))
                    .addAllWarnings(snapshot.warnings())
                    .build();
        });
    }

    @Override
    public void restore(RestoreRequest request, StreamObserver<RestoreResponse> out) {
        unary(out, () -> {
            SandboxSpec o = request.getSpecOverrides();
            // The same checks as a create: labels, and sizes read as the unsigned numbers they are.
            SandboxConfig checked = SandboxMapper.toConfig(o, manager.backendName());
            Restorer.Restored restored = restorer.restore(request.getPackageId(), request.getStore(),
                    request.getImageVersion(), new RestoreOverrides(o.getLabelsMap(), checked.ttlMs(),
                            checked.idleTimeoutMs(), checked.vcpuCount(), checked.memoryMib(), o.hasNetwork()
                                    ? java.util.Optional.of(SandboxMapper.toPolicy(o.getNetwork()))
                                    : java.util.Optional.empty(), request.getAcceptPackagedNetwork(), o.getArch(),
                            checked.ociImage(), request.getAcceptOtherOciDigest()));
            return RestoreResponse.newBuilder().setSandbox(SandboxMapper.toProto(restored.sandbox()))
                    .addAllWarnings(restored.warnings()).build();
        });
    }

    @Override
    public void fork(ForkSandboxRequest request, StreamObserver<ForkSandboxResponse> out) {
        unary(out, () -> ForkSandboxResponse.newBuilder().addAllSandboxes(manager.fork(request.getId(),
                request.getCount() == 0 ? 1 : request.getCount(), SandboxMapper.forkLabels(request.getLabelsMap()))
                .stream().map(SandboxMapper::toProto).toList()).build());
    }

    @Override
    public void get(GetSandboxRequest request, StreamObserver<GetSandboxResponse> out) {
        unary(out, () -> {
            SandboxRecord record = manager.get(request.getId());
            Sandbox.Builder sandbox = SandboxMapper.toProto(record).toBuilder();
            sampler.vmProcess(record).ifPresent(p -> sandbox.setVmMemory(StatsMapper.vmMemory(p)));
            return GetSandboxResponse.newBuilder().setSandbox(sandbox).build();
        });
    }

    @Override
    public void list(ListSandboxesRequest request, StreamObserver<ListSandboxesResponse> out) {
        unary(out, () -> ListSandboxesResponse.newBuilder().addAllSandboxes(
                manager.list(request.getLabelSelectorMap()).stream().map(SandboxMapper::toProto).toList()).build());
    }

    @Override
    public void watch(WatchSandboxesRequest request, StreamObserver<WatchSandboxesResponse> out) {
        ServerCallStreamObserver<WatchSandboxesResponse> stream = (ServerCallStreamObserver<WatchSandboxesResponse>) out;
        String id = request.getId();
        if (!id.isEmpty()) {
            try {
                manager.get(id);
            } catch (SandboxNotFoundException e) {
                out.onError(GrpcErrors.toStatus(e)); // thrown from here it would reach the client as UNKNOWN
                return;
            }
        }
        // Events arrive on whichever thread changed a sandbox; a gRPC stream takes one writer at a time.
        AutoCloseable subscription = manager.events().subscribe(event -> {
            if (id.isEmpty() || event.sandbox().id().equals(id)) {
                synchronized (stream) {
                    if (!stream.isCancelled()) {
                        stream.onNext(toWatchResponse(event));
                    }
                }
            }
        }, () -> {
            synchronized (stream) {
                if (!stream.isCancelled()) {
                    stream.onError(GrpcErrors.of(ErrorKind.UNREACHABLE, "kelpied is shutting down; watch again after it restarts"));
                }
            }
        });
        stream.setOnCancelHandler(() -> closeQuietly(subscription));
        if (request.getIncludeInitial()) {
            synchronized (stream) {
                for (SandboxRecord r : manager.list(java.util.Map.of())) {
                    if (!id.isEmpty() && !r.id().equals(id)) {
                        continue;
                    }
                    stream.onNext(toWatchResponse(new SandboxEvent(r, null)));
                }
            }
        }
    }

    private static WatchSandboxesResponse toWatchResponse(SandboxEvent event) {
        return WatchSandboxesResponse.newBuilder().setSandbox(SandboxMapper.toProto(event.sandbox()))
                .setPreviousState(SandboxMapper.toProto(event.previousState())).build();
    }

    @Override
    public void delete(DeleteSandboxRequest request, StreamObserver<DeleteSandboxResponse> out) {
        unary(out, () -> {
            manager.delete(request.getId());
            return DeleteSandboxResponse.getDefaultInstance();
        });
    }

    @Override
    public void pause(PauseSandboxRequest request, StreamObserver<PauseSandboxResponse> out) {
        unary(out, () -> PauseSandboxResponse.newBuilder().setSandbox(SandboxMapper.toProto(manager.pause(request.getId())))
                .build());
    }

    @Override
    public void resume(ResumeSandboxRequest request, StreamObserver<ResumeSandboxResponse> out) {
        unary(out, () -> ResumeSandboxResponse.newBuilder()
                .setSandbox(SandboxMapper.toProto(manager.resume(request.getId()))).build());
    }

    @Override
    public void stats(SandboxStatsRequest request, StreamObserver<SandboxStatsResponse> out) {
        stats.stream(request, (ServerCallStreamObserver<SandboxStatsResponse>) out);
    }

    @Override
    public void exec(ExecRequest request, StreamObserver<ExecResponse> out) {
        if (request.getCommand().getStdinMode() == StdinMode.STDIN_MODE_PIPE
                || request.getCommand().getStdinMode() == StdinMode.STDIN_MODE_PTY) {
            out.onError(GrpcErrors.of(ErrorKind.BAD_REQUEST, 
                    "Exec takes no stdin; use ExecInteractive for stdin_mode pipe or pty"));
            return;
        }
        processes.exec(request, (ServerCallStreamObserver<ExecResponse>) out);
    }

    @Override
    public StreamObserver<ExecInteractiveRequest> execInteractive(StreamObserver<ExecInteractiveResponse> out) {
        return processes.execInteractive((ServerCallStreamObserver<ExecInteractiveResponse>) out);
    }

    @Override
    public StreamObserver<AttachRequest> attach(StreamObserver<AttachResponse> out) {
        return processes.attach((ServerCallStreamObserver<AttachResponse>) out);
    }

    @Override
    public void listProcesses(ListProcessesRequest request, StreamObserver<ListProcessesResponse> out) {
        unary(out, () -> ListProcessesResponse.newBuilder().addAllProcesses(agent(request.getSandboxId())
                .listProcesses(dev.kelpie.agent.v1.ListProcessesRequest.getDefaultInstance()).getProcessesList().stream()
                .map(ProcessMessages::summary).toList()).build());
    }

    @Override
    public void signal(SignalRequest request, StreamObserver<SignalResponse> out) {
        unary(out, () -> {
            agent(request.getSandboxId()).signal(dev.kelpie.agent.v1.SignalRequest.newBuilder()
                    .setId(request.getProcessId()).setSignal(request.getSignal()).build());
            return SignalResponse.getDefaultInstance();
        });
    }

    @Override
    public void readFile(ReadFileRequest request, StreamObserver<ReadFileResponse> out) {
        files.read(request, (ServerCallStreamObserver<ReadFileResponse>) out);
    }

    @Override
    public StreamObserver<WriteFileRequest> writeFile(StreamObserver<WriteFileResponse> out) {
        return files.write((ServerCallStreamObserver<WriteFileResponse>) out);
    }

    private AgentGrpc.AgentBlockingStub agent(String sandboxId) throws InterruptedException {
        ManagedChannel channel = manager.agent(sandboxId);
        return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(AGENT_UNARY_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }

    private static <T> void unary(StreamObserver<T> out, UnaryCalls.Call<T> call) {
        UnaryCalls.respond(out, call);
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception e) {
            // Unsubscribing cannot fail in a way the client could act on.
        }
    }
}
