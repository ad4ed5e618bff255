package dev.kelpie.daemon.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The packaged daemon's API over its Unix socket, explored as an operator would, through reflection only. */
class DaemonApiIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path work;

    static DaemonProcess daemon;

    @BeforeAll
    static void startDaemon() throws IOException {
        daemon = DaemonProcess.startServing(work, "api");
    }

    @AfterAll
    static void stopDaemon() throws InterruptedException {
        if (daemon != null) {
            daemon.close();
        }
    }

    @Test
    void reflectionListsExactlyTheDocumentedMethods() throws IOException {
        Set<String> served = daemon.client().listMethods().requireSuccess().stdout().lines().map(String::strip)
                .filter(l -> !l.isEmpty()).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(ReadmeApiList.documentedMethods(), served,
                "README's API list and the served methods differ; update one of them");
    }

    @Test
    void healthIsServing() throws IOException {
        JsonNode health = JSON.readTree(daemon.client().call("grpc.health.v1.Health/Check", "{}").requireSuccess().stdout());
        assertEquals("SERVING", health.path("status").asText());
    }

    @Test
    void hostInfoDescribesTheHostAndProbesQemu() throws IOException {
        JsonNode info = JSON.readTree(daemon.client().call("kelpie.v1.Host/Info", "{}").requireSuccess().stdout());
        assertEquals("v1", info.path("apiVersion").asText());
        assertFalse(info.path("daemonVersion").asText().isEmpty());
        assertEquals("linux", info.path("hostOs").asText());
        String arch = System.getProperty("os.arch").equals("amd64") ? "x86_64" : System.getProperty("os.arch");
        assertEquals(arch, info.path("hostArch").asText());
        assertEquals(Runtime.getRuntime().availableProcessors(), info.path("hostCpuCount").asInt());
        assertTrue(info.path("hostMemoryMib").asLong() > 0);
        assertEquals(daemon.stateDir.toString(), info.path("stateDir").asText());

        JsonNode qemu = Probes.awaitBackend(daemon, "qemu");
        assertEquals("PROBE_STATUS_AVAILABLE", qemu.path("status").asText(), qemu.toString());
        assertTrue(qemu.path("version").asText().matches("\\d+\\.\\d+.*"), qemu.toString());
        assertEquals("PROBE_STATUS_AVAILABLE", Probes.accelerator(qemu, "tcg").path("status").asText());
        // A device node proves nothing: without a booted kernel KVM may be untested or unavailable, never "available".
        assertFalse(Probes.accelerator(qemu, "kvm").path("status").asText().equals("PROBE_STATUS_AVAILABLE")
                && Probes.accelerator(qemu, "kvm").path("probeDurationMs").asLong() == 0, qemu.toString());

        JsonNode libkrun = Probes.awaitBackend(daemon, "libkrun");
        assertFalse(libkrun.path("reason").asText().isEmpty() && !libkrun.path("status").asText().equals("PROBE_STATUS_AVAILABLE"),
                "an unavailable libkrun must say why: " + libkrun);
        JsonNode settled = JSON.readTree(daemon.client().call("kelpie.v1.Host/Info", "{}").requireSuccess().stdout());
        assertFalse(settled.path("selectedBackend").asText().isEmpty(), settled.toString());
        assertFalse(settled.path("selectionReason").asText().isEmpty(), settled.toString());
    }

    @Test
    void socketIsReadableAndWritableByOwnerAndGroupOnly() throws IOException {
        assertTrue(Files.readAttributes(daemon.socket, java.nio.file.attribute.BasicFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS).isOther(), "the API endpoint is a socket");
        // The daemon narrows the umask's 0770 to 0660 right after binding, asynchronously.
        Await.until("socket mode 0660", java.time.Duration.ofSeconds(10), () -> modeOf(daemon.socket).equals("rw-rw----"));
    }

    private static String modeOf(Path path) {
        try {
            return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Reads the list of methods that README.md documents between its api-methods markers. */
    static final class ReadmeApiList {
        static Set<String> documentedMethods() throws IOException {
            String readme = Files.readString(Path.of(System.getProperty("kelpie.it.readme", "../README.md")));
            int start = readme.indexOf("<!-- api-methods:start -->");
            int end = readme.indexOf("<!-- api-methods:end -->");
            assertTrue(start >= 0 && end > start, "README.md lacks the api-methods markers");
            return Arrays.stream(readme.substring(start, end).split("\n")).map(String::strip)
                    .filter(l -> l.matches("[\\w.]+/\\w+")).collect(Collectors.toCollection(TreeSet::new));
        }
    }
}
