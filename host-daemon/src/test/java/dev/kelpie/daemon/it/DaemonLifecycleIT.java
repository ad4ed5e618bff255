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

    /** Starts a daemon that must refuse to start, and returns its log after checking the exit code. */
    private String refusedStart(Path stateDir, Path socket, String name, String... args) throws Exception {
        DaemonProcess daemon = DaemonProcess.start(stateDir, socket, work.resolve(name + ".log"), args);
        assertNotEquals(0, daemon.awaitExit(EXIT_TIMEOUT), daemon.logText());
        assertFalse(daemon.logText().contains("Listening on"), "a refused daemon binds nothing: " + daemon.logText());
        return daemon.logText();
    }

    @Test
    void secondDaemonOnTheSameStateDirectoryExitsWithAClearMessageAndTheFirstKeepsServing() throws Exception {
        try (DaemonProcess first = DaemonProcess.startServing(work, "first")) {
            Path otherSocket = work.resolve("second.sock");
            String log = refusedStart(first.stateDir, otherSocket, "second");

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
            String log = refusedStart(work.resolve("other-state"), first.socket, "thief");

            assertTrue(log.contains("kelpied cannot start: API socket " + first.socket
                    + " is in use by another live server"), log);
            assertTrue(first.client().call("grpc.health.v1.Health/Check", "{}").requireSuccess().stdout().contains("SERVING"));
        }
    }

    @Test
    void staleSocketOfAKilledDaemonDoesNotBlockARestart() throws Exception {
        DaemonProcess killed = DaemonProcess.startServing(work, "restart");
        killed.kill9();
        assertTrue(Files.exists(killed.socket), "kill -9 leaves the socket file behind");

        try (DaemonProcess restarted = killed.startSuccessor(work.resolve("restarted.log"))) {
            assertEquals(0, restarted.client().call("kelpie.v1.Host/Info", "{}").exitCode());
        }
    }

    @Test
    void gracefulStopRemovesTheSocketAndReleasesTheLock() throws Exception {
        DaemonProcess daemon = DaemonProcess.startServing(work, "graceful");
        daemon.close();
        assertFalse(Files.exists(daemon.socket), "a clean shutdown removes the socket");
        try (DaemonProcess next = daemon.startSuccessor(work.resolve("next.log"))) {
            assertEquals(0, next.client().call("kelpie.v1.Host/Info", "{}").exitCode());
        }
    }

    @Test
    void socketPathUnderAFileGivesAClearMessage() throws Exception {
        Path notADirectory = Files.writeString(work.resolve("plain-file"), "x");
        Path socket = notADirectory.resolve("kelpied.sock");
        String log = refusedStart(work.resolve("state-a"), socket, "a");

        assertTrue(log.contains("kelpied cannot start: cannot create the API socket directory " + notADirectory), log);
    }

    @Test
    void socketPathThatIsTooLongGivesAClearMessage() throws Exception {
        Path socket = work.resolve("d".repeat(120)).resolve("kelpied.sock");
        String log = refusedStart(work.resolve("state-b"), socket, "b");

        assertTrue(log.contains("kelpied cannot start: API socket path " + socket), log);
        assertTrue(log.contains("Unix sockets allow at most 103"), log);
    }

    @Test
    void unwritableSocketDirectoryGivesAClearMessage() throws Exception {
        // /proc refuses new directories even to root, so this holds for any user.
        Path socket = Path.of("/proc/kelpie-test-" + ProcessHandle.current().pid(), "kelpied.sock");
        String log = refusedStart(work.resolve("state-c"), socket, "c");

        assertTrue(log.contains("kelpied cannot start: cannot create the API socket directory " + socket.getParent()), log);
    }

    @Test
    void anUnusableStateDirectoryGivesAClearMessage() throws Exception {
        Path notADirectory = Files.writeString(work.resolve("state-file"), "x");
        String log = refusedStart(notADirectory, work.resolve("d.sock"), "d");

        assertTrue(log.contains("kelpied cannot start: cannot use state directory " + notADirectory), log);
    }

    @Test
    void anUnknownBackendGivesAClearMessage() throws Exception {
        String log = refusedStart(work.resolve("state-e"), work.resolve("e.sock"), "e", "--backend=firecracker");

        assertTrue(log.contains("kelpied cannot start: kelpie.backend (--backend) must be auto, libkrun or qemu, not"
                + " 'firecracker'"), log);
    }
}
