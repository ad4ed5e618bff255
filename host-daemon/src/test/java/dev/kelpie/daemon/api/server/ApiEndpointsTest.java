package dev.kelpie.daemon.api.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ApiEndpointsTest {

    @Test
    void theMetricsSocketSitsBesideTheApiSocket() {
        assertEquals(Path.of("/run/kelpie/kelpied-metrics.sock"), ApiEndpoints.besideSocket(Path.of("/run/kelpie/kelpied.sock")));
        assertEquals(Path.of("/tmp/api-metrics.sock"), ApiEndpoints.besideSocket(Path.of("/tmp/api")));
    }
}
