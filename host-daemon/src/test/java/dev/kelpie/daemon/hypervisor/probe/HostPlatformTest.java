package dev.kelpie.daemon.hypervisor.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class HostPlatformTest {

    @Test
    void normalisesJavaNamesToKelpieNames() {
        assertEquals(new HostPlatform("linux", "x86_64"), HostPlatform.of("Linux", "amd64"));
        assertEquals(new HostPlatform("linux", "aarch64"), HostPlatform.of("Linux", "aarch64"));
        assertEquals(new HostPlatform("macos", "aarch64"), HostPlatform.of("Mac OS X", "aarch64"));
    }
}
