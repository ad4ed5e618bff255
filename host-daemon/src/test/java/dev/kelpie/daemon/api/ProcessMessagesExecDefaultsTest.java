package dev.kelpie.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.agent.v1.ExecStart;
import dev.kelpie.api.v1.Command;
import dev.kelpie.daemon.sandboxes.ExecDefaults;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** An exec takes the sandbox's defaults (an OCI image's Env, WorkingDir, User, Entrypoint + Cmd) where it sets none. */
class ProcessMessagesExecDefaultsTest {

    private static final ExecDefaults OCI = new ExecDefaults(Map.of("PATH", "/bin", "GREETING", "image"), "/srv/app",
            "app", List.of("/bin/sh", "-c", "echo hi"));

    @Test
    void anEmptyCommandRunsTheImagesCommandAsItsUserInItsDirectory() {
        ExecStart start = ProcessMessages.toAgent(Command.getDefaultInstance(), OCI);
        assertEquals(List.of("/bin/sh", "-c", "echo hi"), start.getArgvList());
        assertEquals("/srv/app", start.getCwd());
        assertEquals("app", start.getUser());
        assertEquals(Map.of("PATH", "/bin", "GREETING", "image"), start.getEnvMap());
    }

    @Test
    void theExecsOwnValuesWin() {
        ExecStart start = ProcessMessages.toAgent(Command.newBuilder().addArgv("id").setCwd("/").setUser("0")
                .putEnv("GREETING", "own").build(), OCI);
        assertEquals(List.of("id"), start.getArgvList());
        assertEquals("/", start.getCwd());
        assertEquals("0", start.getUser());
        assertEquals(Map.of("PATH", "/bin", "GREETING", "own"), start.getEnvMap());
    }

    @Test
    void anEmptyCommandWithoutADefaultIsInvalid() {
        var e = assertThrows(StatusRuntimeException.class, () -> ProcessMessages.toAgent(Command.getDefaultInstance(),
                new ExecDefaults(Map.of(), "", "", List.of())));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("command.argv is empty"), e.getStatus().toString());
    }
}
