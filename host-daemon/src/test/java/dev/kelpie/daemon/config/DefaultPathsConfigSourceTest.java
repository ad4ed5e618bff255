package dev.kelpie.daemon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

class DefaultPathsConfigSourceTest {

    @Test
    void rootGetsSystemPaths() {
        var source = new DefaultPathsConfigSource(0, Map.of("HOME", "/root", "XDG_RUNTIME_DIR", "/run/user/0"));
        assertEquals("/run/kelpie/kelpied.sock", source.getValue(DefaultPathsConfigSource.API_SOCKET));
        assertEquals("/var/lib/kelpie", source.getValue(DefaultPathsConfigSource.STATE_DIR));
        assertEquals("/var/cache/kelpie", source.getValue(DefaultPathsConfigSource.PROBE_CACHE_DIR));
    }

    @Test
    void userGetsRuntimeDirAndHome() {
        var source = new DefaultPathsConfigSource(1000, Map.of("HOME", "/home/ada", "XDG_RUNTIME_DIR", "/run/user/1000"));
        assertEquals("/run/user/1000/kelpie/kelpied.sock", source.getValue(DefaultPathsConfigSource.API_SOCKET));
        assertEquals("/home/ada/.kelpie", source.getValue(DefaultPathsConfigSource.STATE_DIR));
        assertEquals("/home/ada/.cache/kelpie", source.getValue(DefaultPathsConfigSource.PROBE_CACHE_DIR));
        assertEquals("/xdg/kelpie", new DefaultPathsConfigSource(1000, Map.of("HOME", "/home/ada", "XDG_CACHE_HOME",
                "/xdg")).getValue(DefaultPathsConfigSource.PROBE_CACHE_DIR));
    }

    @Test
    void userWithoutRuntimeDirGetsAShortPathInTmp() {
        var source = new DefaultPathsConfigSource(501, Map.of("HOME", "/Users/ada"));
        assertEquals("/tmp/kelpie-501/kelpied.sock", source.getValue(DefaultPathsConfigSource.API_SOCKET));
    }

    @Test
    void ranksBelowEveryExplicitSource() {
        var source = new DefaultPathsConfigSource(0, Map.of());
        // application.properties is 250, environment 300, system properties 400.
        assertEquals(true, source.getOrdinal() < 250);
    }
}
