package dev.kelpie.daemon.netty;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * Vert.x's blocked-thread checker for our own Netty event loops (the API server's and the agent channels'): every
 * check interval each loop is handed a no-op task, and a task still waiting after the limit means something holds the
 * loop. The warning uses Vert.x's words ("has been blocked for"), so one look at the log finds either.
 */
public final class EventLoopWatchdog implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(EventLoopWatchdog.class);
    /** Vert.x's defaults: a loop busy for 2 s is blocked, and loops are looked at every second. */
    public static final Duration DEFAULT_LIMIT = Duration.ofSeconds(2);
    public static final Duration DEFAULT_CHECK_INTERVAL = Duration.ofSeconds(1);
    private static final int STACK_FRAMES_SHOWN = 12;
    private static final long NAMING_WAIT_MS = 1_000;

    private final List<Loop> loops = new ArrayList<>();
    private final long limitNanos;
    private final Consumer<String> warnings;
    private final ScheduledExecutorService checker = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("kelpie-event-loop-watchdog").daemon().factory());

    /** Watches {@code group}'s loops with Vert.x's defaults, warning in the daemon's log. */
    public static EventLoopWatchdog watch(EventExecutorGroup group) {
        return new EventLoopWatchdog(group, DEFAULT_LIMIT, DEFAULT_CHECK_INTERVAL, LOG::warn);
    }

    public EventLoopWatchdog(EventExecutorGroup group, Duration limit, Duration checkInterval, Consumer<String> warnings) {
        this.limitNanos = limit.toNanos();
        this.warnings = warnings;
        for (EventExecutor executor : group) {
            loops.add(new Loop(executor));
        }
        checker.scheduleAtFixedRate(this::check, 0, checkInterval.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void check() {
        long now = System.nanoTime();
        for (Loop loop : loops) {
            try {
                loop.check(now);
            } catch (RuntimeException e) {
                // An exception would cancel the fixed-rate task for good (a loop that began shutting down between
                // the check and the ping rejects it): one loop's trouble must not end the watching of the others.
                LOG.debugf("event-loop watchdog: %s", e);
            }
        }
    }

    @Override
    public void close() {
        checker.shutdownNow();
    }

    /** One event loop: the ping in flight, if any, and the loop's thread once a ping has named it. */
    private final class Loop {
        private final EventExecutor executor;
        private volatile Thread thread;
        private volatile long pingSentNanos;
        private volatile boolean pingPending;
        private volatile boolean warned;

        Loop(EventExecutor executor) {
            this.executor = executor;
            // A fresh loop answers at once; knowing its thread lets a later warning show what holds it, even when the
            // very first task held it (the first check's ping would then never get to name it).
            executor.submit(() -> thread = Thread.currentThread()).awaitUninterruptibly(NAMING_WAIT_MS);
        }

        void check(long now) {
            if (executor.isShuttingDown()) {
                return;
            }
            if (!pingPending) {
                pingPending = true;
                warned = false;
                pingSentNanos = now;
                executor.execute(() -> {
                    thread = Thread.currentThread();
                    pingPending = false;
                });
                return;
            }
            long blockedMs = (now - pingSentNanos) / 1_000_000;
            if (!warned && now - pingSentNanos > limitNanos) {
                warned = true; // once per episode: its stack says what holds the loop
                Thread t = thread;
                warnings.accept("Thread " + (t == null ? executor : t.getName()) + " has been blocked for " + blockedMs
                        + " ms, time limit is " + limitNanos / 1_000_000 + " ms" + (t == null ? "" : stack(t)));
            }
        }

        private static String stack(Thread t) {
            return Arrays.stream(t.getStackTrace()).limit(STACK_FRAMES_SHOWN).map(f -> "\n\tat " + f)
                    .collect(Collectors.joining());
        }
    }
}
