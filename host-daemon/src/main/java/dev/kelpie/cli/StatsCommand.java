package dev.kelpie.cli;

import dev.kelpie.api.v1.ListSandboxesRequest;
import dev.kelpie.api.v1.Sandbox;
import dev.kelpie.api.v1.SandboxState;
import dev.kelpie.api.v1.SandboxStats;
import dev.kelpie.api.v1.SandboxStatsRequest;
import dev.kelpie.api.v1.SandboxStatsResponse;
import dev.kelpie.api.v1.SandboxesGrpc;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code kelpie stats [ID...]}: a live table of sandboxes' resource use, refreshed every interval, until Ctrl-C; with
 * no ids, every sandbox that holds a VM (new ones join at the next refresh). {@code --no-stream} prints one table.
 */
@Command(name = "stats", description = "Show sandboxes' live resource use (CPU, memory, disk, egress, processes).")
final class StatsCommand implements Callable<Integer> {

    /** ANSI: cursor home, clear the screen. */
    private static final String CLEAR_SCREEN = "\033[H\033[2J";
    /** A --no-stream run waits this long for its samples before it gives up. */
    private static final Duration NO_STREAM_TIMEOUT = Duration.ofSeconds(30);

    @ParentCommand
    KelpieCli cli;

    @Parameters(arity = "0..*", paramLabel = "ID", description = "sandboxes to show (default: all that hold a VM)")
    List<String> ids = List.of();

    @Option(names = "--no-stream", description = "print one sample of each sandbox and exit")
    boolean noStream;

    @Option(names = "--interval", converter = DurationConverter.class,
            description = "time between samples (default: 1s; at least 250ms)")
    Duration interval = Duration.ofSeconds(1);

    /** The latest sample of each sandbox watched, in the order they were first seen. */
    private final Map<String, SandboxStats> latest = new ConcurrentHashMap<>();
    private final Map<String, Feed> feeds = new LinkedHashMap<>();
    private final List<String> errors = new java.util.concurrent.CopyOnWriteArrayList<>();

    @Override
    public Integer call() throws InterruptedException {
        SandboxesGrpc.SandboxesStub stub = SandboxesGrpc.newStub(cli.channel());
        if (noStream) {
            return once(stub);
        }
        boolean terminal = System.console() != null;
        try {
            while (true) {
                watch(stub);
                if (!ids.isEmpty() && feeds.values().stream().allMatch(f -> f.ended.getCount() == 0)) {
                    break; // every sandbox asked for is gone
                }
                Thread.sleep(interval.toMillis());
                System.out.print((terminal ? CLEAR_SCREEN : "") + StatsTable.render(rows()));
                System.out.flush();
            }
        } finally {
            feeds.values().forEach(Feed::cancel);
        }
        errors.forEach(e -> System.err.println("kelpie: " + e));
        return errors.isEmpty() ? 0 : KelpieCli.EXIT_API_ERROR;
    }

    /**
     * Two samples of each sandbox (the first has no CPU rate: it is measured between samples), then the table of the
     * second.
     */
    private int once(SandboxesGrpc.SandboxesStub stub) throws InterruptedException {
        watch(stub);
        long deadline = System.nanoTime() + NO_STREAM_TIMEOUT.toNanos() + interval.toNanos();
        for (Feed feed : feeds.values()) {
            feed.ended.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            feed.cancel();
        }
        System.out.print(StatsTable.render(rows()));
        errors.forEach(e -> System.err.println("kelpie: " + e));
        return errors.isEmpty() ? 0 : KelpieCli.EXIT_API_ERROR;
    }

    /** Starts a stream for every sandbox to watch that has none yet. */
    private void watch(SandboxesGrpc.SandboxesStub stub) {
        List<String> wanted = new ArrayList<>(ids);
        if (ids.isEmpty()) {
            for (Sandbox s : SandboxesGrpc.newBlockingStub(cli.channel()).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .list(ListSandboxesRequest.getDefaultInstance()).getSandboxesList()) {
                if (s.getState() == SandboxState.SANDBOX_STATE_READY || s.getState() == SandboxState.SANDBOX_STATE_PAUSED) {
                    wanted.add(s.getId());
                }
            }
        }
        for (String id : wanted) {
            feeds.computeIfAbsent(id, key -> {
                Feed feed = new Feed(key, noStream ? 2 : Integer.MAX_VALUE);
                stub.stats(SandboxStatsRequest.newBuilder().setId(key).setIntervalMs((int) interval.toMillis()).build(),
                        feed);
                return feed;
            });
        }
    }

    /** The rows to show: sandboxes whose stream still runs (or, with --no-stream, that answered). */
    private List<SandboxStats> rows() {
        List<SandboxStats> rows = new ArrayList<>();
        feeds.forEach((id, feed) -> {
            SandboxStats s = latest.get(id);
            if (s != null && (noStream || feed.ended.getCount() > 0)) {
                rows.add(s);
            }
        });
        return rows;
    }

    /** One sandbox's stream: keeps its latest sample; ends after {@code wanted} samples or when the daemon ends it. */
    private final class Feed implements ClientResponseObserver<SandboxStatsRequest, SandboxStatsResponse> {
        private final String id;
        private final int wanted;
        private int received;
        private volatile ClientCallStreamObserver<SandboxStatsRequest> call;
        final CountDownLatch ended = new CountDownLatch(1);

        Feed(String id, int wanted) {
            this.id = id;
            this.wanted = wanted;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<SandboxStatsRequest> requestStream) {
            call = requestStream;
        }

        @Override
        public void onNext(SandboxStatsResponse value) {
            latest.put(id, value.getStats());
            if (++received >= wanted) {
                ended.countDown();
                cancel();
            }
        }

        @Override
        public void onError(Throwable t) {
            Status status = Status.fromThrowable(t);
            if (status.getCode() != Status.Code.CANCELLED) {
                // Without ids, a sandbox deleted meanwhile just leaves the table.
                boolean asked = !ids.isEmpty();
                if (asked || status.getCode() != Status.Code.NOT_FOUND
                        && status.getCode() != Status.Code.FAILED_PRECONDITION) {
                    errors.add(status.getCode() + ": " + status.getDescription());
                }
            }
            ended.countDown();
        }

        @Override
        public void onCompleted() {
            ended.countDown();
        }

        void cancel() {
            if (call != null) {
                call.cancel("done", null);
            }
        }
    }
}
