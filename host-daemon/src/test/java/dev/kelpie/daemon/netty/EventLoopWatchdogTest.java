package dev.kelpie.daemon.netty;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.DefaultEventLoopGroup;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EventLoopWatchdogTest {

    private static final Duration LIMIT = Duration.ofMillis(200);
    private static final Duration CHECK_INTERVAL = Duration.ofMillis(50);

    private final DefaultEventLoopGroup group = new DefaultEventLoopGroup(2);
    private final List<String> warnings = new CopyOnWriteArrayList<>();
    private final EventLoopWatchdog watchdog = new EventLoopWatchdog(group, LIMIT, CHECK_INTERVAL, warnings::add);

    @AfterEach
    void close() {
        watchdog.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void aHeldLoopIsReportedInVertxsWordsWithWhatHoldsIt() throws Exception {
        CountDownLatch released = new CountDownLatch(1);
        group.next().execute(() -> {
            try {
                released.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (warnings.isEmpty() && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        released.countDown();
        assertEquals(1, warnings.size(), "one warning per episode: " + warnings);
        String warning = warnings.get(0);
        assertTrue(warning.contains("has been blocked for") && warning.contains("time limit is 200 ms"), warning);
        assertTrue(warning.contains("CountDownLatch.await"), "the stack says what holds it: " + warning);
    }

    @Test
    void idleLoopsAreNotReported() throws Exception {
        Thread.sleep(LIMIT.multipliedBy(3).toMillis()); // an idle time to be quiet in, not a wait for something
        assertEquals(List.of(), warnings);
    }
}
