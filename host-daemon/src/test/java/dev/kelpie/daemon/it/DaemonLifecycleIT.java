package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Starting, refusing, restarting and stopping the packaged daemon as a real process. */
class DaemonLifecycleIT {

    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path work;

    @Test
    void secondDaemonOnTheSameStateDirectoryExitsWithAClearMessageAndTheFirstKeepsServing() throws Exception {
        try (DaemonProcess first = DaemonProcess.startServing(work, "first")) {
            Path otherSocket = work.resolve("second.sock");
            DaemonProcess second = DaemonProcess.start(first.stateDir, otherSocket, work.resolve("second.log"));
            int exit = second.awaitExit(EXIT_TIMEOUT);

            assertNotEquals(0, exit);
            String log = second.logText();
            assertTrue(log.contains("another kelpied (pid " + first.process.pid() + ") is already running on state directory "
                    + first.stateDir), log);
            assertFalse(Files.exists(otherSocket), "the refused daemon must not bind anything");
            assertTrue(first.process.isAlive());
            assertTrue(first.client().call("grpc.health.v1.Health/Check", "{}").requireSuccess().stdout().contains("SERVING"));
        }
    }

    @Test
    void daemonWithAnotherStateDirectoryCannotTakeOverALiveSocket() throws Exception {
        try (DaemonProcess first = DaemonProcess.startServing(work, "owner")) {
            DaemonProcess second = DaemonProcess.start(work.resolve("other-state"), first.socket, work.resolve("thief.log"));

            assertNotEquals(0, second.awaitExit(EXIT_TIMEOUT));
            assertTrue(second.logText().contains("kelpied cannot start: API socket " + first.socket
                    + " is in use by another live server"), second.logText());
            assertTrue(first.client().call("grpc.health.v1.Health/Check", "{}").requireSuccess().stdout().contains("SERVING"));
        }
    }

    @Test
    void staleSocketOfAKilledDaemonDoesNotBlockARestart() throws Exception {
        DaemonProcess killed = DaemonProcess.startServing(work, "restart");
        killed.kill9();
        assertTrue(Files.exists(killed.socket), "kill -9 leaves the socket file behind");

        try (DaemonProcess restarted = DaemonProcess.start(killed.stateDir, killed.socket, work.resolve("restarted.log"))) {
            restarted.awaitServing();
            assertEquals(0, restarted.client().call("kelpie.v1.Host/Info", "{}").exitCode());
        }
    }

    @Test
    void gracefulStopRemovesTheSocketAndReleasesTheLock() throws Exception {
        DaemonProcess daemon = DaemonProcess.startServing(work, "graceful");
        daemon.close();
        assertFalse(Files.exists(daemon.socket), "a clean shutdown removes the socket");
        try (DaemonProcess next = DaemonProcess.start(daemon.stateDir, daemon.socket, work.resolve("next.log"))) {
            next.awaitServing();
        }
    }

    @Test
    void socketPathUnderAFileGivesAClearMessage() throws Exception {
        Path notADirectory = Files.writeString(work.resolve("plain-file"), "x");
        Path socket = notADirectory.resolve("kelpied.sock");
        DaemonProcess daemon = DaemonProcess.start(work.resolve("state-a"), socket, work.resolve("a.log"));

        assertNotEquals(0, daemon.awaitExit(EXIT_TIMEOUT));
        assertTrue(daemon.logText().contains("kelpied cannot start: cannot create the API socket directory " + notADirectory),
                daemon.logText());
    }

    @Test
    void socketPathThatIsTooLongGivesAClearMessage() throws Exception {
        Path socket = work.resolve("d".repeat(120)).resolve("kelpied.sock");
        DaemonProcess daemon = DaemonProcess.start(work.resolve("state-b"), socket, work.resolve("b.log"));

        assertNotEquals(0, daemon.awaitExit(EXIT_TIMEOUT));
        assertTrue(daemon.logText().contains("kelpied cannot start: API socket path " + socket), daemon.logText());
        assertTrue(daemon.logText().contains("Unix sockets allow at most 103"), daemon.logText());
    }

    @Test
    void unwritableSocketDirectoryGivesAClearMessage() throws Exception {
        // /proc refuses new directories even to root, so this holds for any user.
        Path socket = Path.of("/proc/kelpie-test-" + ProcessHandle.current().pid(), "kelpied.sock");
        DaemonProcess daemon = DaemonProcess.start(work.resolve("state-c"), socket, work.resolve("c.log"));

        assertNotEquals(0, daemon.awaitExit(EXIT_TIMEOUT));
        assertTrue(daemon.logText().contains("kelpied cannot start: cannot create the API socket directory "
                + socket.getParent()), daemon.logText());
    }

    @Test
    void anUnusableStateDirectoryGivesAClearMessage() throws Exception {
        Path notADirectory = Files.writeString(work.resolve("state-file"), "x");
        DaemonProcess daemon = DaemonProcess.start(notADirectory, work.resolve("d.sock"), work.resolve("d.log"));

        assertNotEquals(0, daemon.awaitExit(EXIT_TIMEOUT));
        assertTrue(daemon.logText().contains("kelpied cannot start: cannot use state directory " + notADirectory),
                daemon.logText());
    }
}
