package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The check every black-box test makes when it stops its daemon ({@link DaemonProcess}) really sees Vert.x's warning:
 * a real Vert.x, with its checker tightened, is made to block an event loop, and what it logs is found.
 */
class BlockedThreadWarningsTest {

    private static final long MAX_EVENT_LOOP_EXECUTE_MS = 100;
    private static final long CHECK_INTERVAL_MS = 20;

    @TempDir
    Path dir;

    @Test
    void vertxsOwnWarningIsFound() throws Exception {
        List<String> logged = new CopyOnWriteArrayList<>();
        Logger checker = Logger.getLogger("io.vertx.core.impl.BlockedThreadChecker");
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                StringWriter text = new StringWriter();
                text.append("2026-12-07 10:00:00,000 WARN  [").append(record.getLoggerName()).append("] ")
                        .append(record.getMessage());
                // As the daemon's log has it: the exception on the message's line, its stack below.
                if (record.getThrown() != null) {
                    text.append(": ");
                    record.getThrown().printStackTrace(new PrintWriter(text));
                } else {
                    text.append('\n');
                }
                logged.add(text.toString());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        checker.addHandler(capture);
        Vertx vertx = Vertx.vertx(new VertxOptions().setBlockedThreadCheckInterval(CHECK_INTERVAL_MS)
                .setBlockedThreadCheckIntervalUnit(TimeUnit.MILLISECONDS)
                .setMaxEventLoopExecuteTime(MAX_EVENT_LOOP_EXECUTE_MS).setMaxEventLoopExecuteTimeUnit(TimeUnit.MILLISECONDS)
                .setWarningExceptionTime(MAX_EVENT_LOOP_EXECUTE_MS).setWarningExceptionTimeUnit(TimeUnit.MILLISECONDS));
        try {
            CountDownLatch released = new CountDownLatch(1);
            vertx.runOnContext(v -> {
                try {
                    released.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (logged.isEmpty() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            released.countDown();
        } finally {
            checker.removeHandler(capture);
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        Path log = Files.writeString(dir.resolve("daemon.log"), "INFO started\n" + String.join("", logged) + "INFO stopped\n");

        List<String> warnings = BlockedThreadWarnings.in(log);
        assertTrue(!warnings.isEmpty(), "Vert.x logged: " + logged);
        assertTrue(warnings.get(0).contains("vert.x-eventloop-thread"), warnings.get(0));
        assertTrue(warnings.get(0).contains("CountDownLatch.await"), "its stack comes along: " + warnings.get(0));
        AssertionError failure = assertThrows(AssertionError.class, () -> BlockedThreadWarnings.assertNone(log));
        assertTrue(failure.getMessage().contains(BlockedThreadWarnings.MARKER), failure.getMessage());
    }

    @Test
    void aQuietLogPasses() throws Exception {
        Path log = Files.writeString(dir.resolve("daemon.log"), "INFO started\nINFO stopped\n");
        assertEquals(List.of(), BlockedThreadWarnings.in(log));
        BlockedThreadWarnings.assertNone(log);
    }
}
