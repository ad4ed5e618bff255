package dev.kelpie.daemon.lifecycle;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateDirectoryLockTest {

    @TempDir
    Path tmp;

    @Test
    void createsTheDirectoryAndRecordsThePid() throws Exception {
        Path state = tmp.resolve("a/b/state");
        try (var lock = StateDirectoryLock.acquire(state)) {
            assertTrue(Files.readString(state.resolve(StateDirectoryLock.LOCK_FILE_NAME)).strip()
                    .equals(Long.toString(ProcessHandle.current().pid())));
        }
    }

    @Test
    void aHeldLockRefusesTheNextHolderNamingThePid() throws Exception {
        try (var first = StateDirectoryLock.acquire(tmp)) {
            var e = assertThrows(DaemonStartupException.class, () -> StateDirectoryLock.acquire(tmp));
            assertTrue(e.getMessage().contains("pid " + ProcessHandle.current().pid()), e.getMessage());
            assertTrue(e.getMessage().contains(tmp.toString()), e.getMessage());
        }
    }

    @Test
    void aReleasedLockCanBeTakenAgain() throws Exception {
        StateDirectoryLock.acquire(tmp).close();
        StateDirectoryLock.acquire(tmp).close();
    }

    @Test
    void aFileWhereTheDirectoryShouldBeIsAClearError() throws Exception {
        Path file = Files.writeString(tmp.resolve("file"), "x");
        var e = assertThrows(DaemonStartupException.class, () -> StateDirectoryLock.acquire(file));
        assertTrue(e.getMessage().startsWith("cannot use state directory " + file), e.getMessage());
    }
}
