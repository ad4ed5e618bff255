package dev.kelpie.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * The service definitions in {@code deploy/}: systemd's own verifier accepts the unit (and rejects a broken one),
 * the unit keeps the settings the daemon relies on, and the launchd plists are property lists with the keys
 * launchd needs.
 */
class ServiceDefinitionsTest {

    private static final Path DEPLOY = Path.of(System.getProperty("kelpie.it.deployDir", "../deploy"));
    private static final Path UNIT = DEPLOY.resolve("systemd/kelpied.service");
    private static final Path LAUNCHER = Path.of("bin/kelpied").toAbsolutePath();

    @TempDir
    Path tmp;

    @Test
    void systemdAcceptsTheUnit() throws Exception {
        assertEquals("", verify(Files.readString(UNIT)));
    }

    @Test
    void systemdsVerifierWouldCatchAMistake() throws Exception {
        String broken = Files.readString(UNIT).replace("KillMode=process", "KillMode=procss");
        assertTrue(verify(broken).contains("Failed to parse kill mode"), verify(broken));
    }

    @Test
    void theUnitKeepsWhatTheDaemonReliesOn() throws IOException {
        Map<String, List<String>> unit = parseUnit(Files.readString(UNIT));
        assertEquals(List.of("notify"), unit.get("Type"), "the daemon sends READY=1 itself");
        assertEquals(List.of("process"), unit.get("KillMode"), "VMs must survive a restart to be re-adopted");
        assertEquals(List.of("closed"), unit.get("DevicePolicy"));
        assertTrue(unit.get("DeviceAllow").contains("/dev/kvm rw"), unit.get("DeviceAllow").toString());
        assertEquals(List.of("143"), unit.get("SuccessExitStatus"), "a JVM ends with 143 after SIGTERM");
        assertEquals(List.of("yes"), unit.get("NoNewPrivileges"));
        assertEquals(List.of("strict"), unit.get("ProtectSystem"));
        assertFalse(unit.containsKey("MemoryDenyWriteExecute"), "the JIT needs writable code");
        Duration stop = Duration.ofSeconds(Long.parseLong(unit.get("TimeoutStopSec").getFirst()));
        assertTrue(stop.compareTo(daemonShutdownTimeout()) > 0, "systemd must outwait the daemon's own shutdown");
    }

    @Test
    void systemdAcceptsTheServiceUserDefinition() throws Exception {
        Assumptions.assumeTrue(System.getProperty("os.name").equals("Linux"), "systemd is Linux only");
        // exits non-zero on a line it cannot parse; says nothing, or what it would create, otherwise
        String result = run(List.of("systemd-sysusers", "--dry-run",
                DEPLOY.resolve("systemd/kelpie.sysusers.conf").toString()));
        assertFalse(result.contains("Unknown") || result.contains("Failed"), result);
    }

    @Test
    void theLaunchdPlistsHaveWhatLaunchdNeeds() throws Exception {
        for (String name : List.of("dev.kelpie.kelpied.plist", "dev.kelpie.kelpied.agent.plist")) {
            Map<String, Node> plist = parsePlist(DEPLOY.resolve("launchd").resolve(name));
            assertEquals("dev.kelpie.kelpied", plist.get("Label").getTextContent(), name);
            assertEquals("array", plist.get("ProgramArguments").getNodeName(), name);
            assertTrue(plist.get("ProgramArguments").getTextContent().contains("/bin/kelpied"), name);
            assertEquals("true", plist.get("RunAtLoad").getNodeName(), name);
            assertEquals("true", plist.get("AbandonProcessGroup").getNodeName(), name + ": VMs outlive a restart");
            assertTrue(Integer.parseInt(plist.get("ExitTimeOut").getTextContent()) > daemonShutdownTimeout().toSeconds());
            assertTrue(plist.get("StandardOutPath").getTextContent().endsWith("kelpied.log"), name);
            assertEquals("dict", plist.get("EnvironmentVariables").getNodeName(), name);
            assertTrue(plist.get("EnvironmentVariables").getTextContent().contains("KELPIE_STATE_DIR"), name);
        }
        Map<String, Node> entitlements = parsePlist(DEPLOY.resolve("launchd/hypervisor.entitlements"));
        assertEquals("true", entitlements.get("com.apple.security.hypervisor").getNodeName());
    }

    /** systemd-analyze's complaints about a unit whose ExecStart is this checkout's launcher ("" when none). */
    private String verify(String unitText) throws Exception {
        Assumptions.assumeTrue(System.getProperty("os.name").equals("Linux"), "systemd is Linux only");
        Path unit = tmp.resolve("kelpied.service");
        // verify checks that ExecStart exists; the installed path does not exist on a build machine
        Files.writeString(unit, unitText.replace("ExecStart=/opt/kelpie/bin/kelpied", "ExecStart=" + LAUNCHER));
        return run(List.of("systemd-analyze", "verify", "--man=no", unit.toString()));
    }

    private static String run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), command + " hung");
        assertEquals(0, p.exitValue(), command + ": " + output);
        return output;
    }

    private static Map<String, List<String>> parseUnit(String text) {
        Map<String, List<String>> keys = new HashMap<>();
        for (String line : text.lines().map(String::strip).toList()) {
            if (line.isEmpty() || line.startsWith("#") || line.startsWith("[")) {
                continue;
            }
            int eq = line.indexOf('=');
            keys.computeIfAbsent(line.substring(0, eq), k -> new java.util.ArrayList<>()).add(line.substring(eq + 1));
        }
        return keys;
    }

    /** The top-level dict of a plist: each key's value element. */
    private static Map<String, Node> parsePlist(Path file) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        // the DOCTYPE names Apple's DTD by URL: never fetch it
        factory.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        Element plist = factory.newDocumentBuilder().parse(file.toFile()).getDocumentElement();
        assertEquals("plist", plist.getNodeName());
        Element dict = (Element) plist.getElementsByTagName("dict").item(0);
        Map<String, Node> entries = new HashMap<>();
        Node key = null;
        for (Node n = dict.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n.getNodeType() != Node.ELEMENT_NODE) {
                continue;
            }
            if (key == null) {
                assertEquals("key", n.getNodeName(), file + ": a dict alternates key and value");
                key = n;
            } else {
                entries.put(key.getTextContent(), n);
                key = null;
            }
        }
        return entries;
    }

    private static Duration daemonShutdownTimeout() throws IOException {
        Properties properties = new Properties();
        try (InputStream in = ServiceDefinitionsTest.class.getResourceAsStream("/application.properties")) {
            properties.load(in);
        }
        return Duration.ofSeconds(Long.parseLong(properties.getProperty("quarkus.shutdown.timeout").replace("s", "")));
    }
}
