package dev.kelpie.daemon.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.config.KelpieConfig;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ApiExposureTest {

    private static final Optional<Path> FILE = Optional.of(Path.of("/etc/kelpie/x.pem"));

    @Test
    void plaintextOnLoopbackOrNoTcpAtAllIsFine() {
        assertEquals(Optional.empty(), ApiExposure.problem(api(false, "0.0.0.0", false, false, false, false)));
        assertEquals(Optional.empty(), ApiExposure.problem(api(true, "127.0.0.1", false, false, false, false)));
        assertEquals(Optional.empty(), ApiExposure.problem(api(true, "::1", false, false, false, false)));
    }

    @Test
    void plaintextOffLoopbackIsRefused() {
        assertTrue(ApiExposure.problem(api(true, "0.0.0.0", false, false, false, false)).orElseThrow()
                .contains("is off loopback"));
    }

    @Test
    void aCertificateNeedsItsKeyAndTlsNeedsAWayToAuthenticate() {
        assertTrue(ApiExposure.problem(api(true, "0.0.0.0", true, false, true, false)).orElseThrow()
                .contains("must be given together"));
        assertTrue(ApiExposure.problem(api(true, "0.0.0.0", true, true, false, false)).orElseThrow()
                .contains("needs a way for clients to authenticate"));
        assertEquals(Optional.empty(), ApiExposure.problem(api(true, "0.0.0.0", true, true, true, false)));
        assertEquals(Optional.empty(), ApiExposure.problem(api(true, "0.0.0.0", true, true, false, true)));
    }

    private static KelpieConfig.Api api(boolean tcp, String host, boolean cert, boolean key, boolean clientCa,
            boolean token) {
        return new KelpieConfig.Api() {
            @Override
            public Path socket() {
                return Path.of("/run/kelpie/kelpied.sock");
            }

            @Override
            public java.time.Duration uploadIdleTimeout() {
                return java.time.Duration.ofSeconds(60);
            }

            @Override
            public Optional<Path> metricsSocket() {
                return Optional.empty();
            }

            @Override
            public KelpieConfig.Tcp tcp() {
                return new KelpieConfig.Tcp() {
                    @Override
                    public boolean enabled() {
                        return tcp;
                    }

                    @Override
                    public String host() {
                        return host;
                    }

                    @Override
                    public int port() {
                        return 7411;
                    }

                    @Override
                    public int metricsPort() {
                        return 7412;
                    }
                };
            }

            @Override
            public KelpieConfig.Tls tls() {
                return new KelpieConfig.Tls() {
                    @Override
                    public Optional<Path> cert() {
                        return cert ? FILE : Optional.empty();
                    }

                    @Override
                    public Optional<Path> key() {
                        return key ? FILE : Optional.empty();
                    }

                    @Override
                    public Optional<Path> clientCa() {
                        return clientCa ? FILE : Optional.empty();
                    }
                };
            }

            @Override
            public Optional<Path> tokenFile() {
                return token ? FILE : Optional.empty();
            }
        };
    }
}
