package dev.kelpie.daemon.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.config.KelpieConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApiExposureTest {

    private static final Optional<Path> FILE = Optional.of(Path.of("/etc/kelpie/x.pem"));

    @TempDir
    static Path dir;
    private static Path goodToken;

    @BeforeAll
    static void tokens() throws IOException {
        goodToken = Files.writeString(dir.resolve("token"), "0123456789abcdef0123456789abcdef\n");
    }

    @Test
    void noTcpAtAllOrPlaintextOnLoopbackWithATokenIsFine() {
        assertEquals(Optional.empty(), ApiExposure.problem(api(false, "0.0.0.0", false, false, false, false)));
        assertEquals(Optional.empty(), ApiExposure.problem(api(true, "127.0.0.1", false, false, false, true)));
        assertEquals(Optional.empty(), ApiExposure.problem(api(true, "::1", false, false, false, true)));
    }

    @Test
    void plaintextOnLoopbackWithoutATokenIsRefused() {
        assertTrue(ApiExposure.problem(api(true, "127.0.0.1", false, false, false, false)).orElseThrow()
                .contains("plaintext TCP on loopback needs kelpie.api.token-file"));
    }

    @Test
    void anEmptyOrShortTokenFileStopsTheStart() throws IOException {
        Path empty = Files.writeString(dir.resolve("empty"), "\n");
        Path shortOne = Files.writeString(dir.resolve("short"), "31-bytes-are-one-too-few-......\n");
        assertTrue(ApiExposure.problem(api(true, "127.0.0.1", false, false, false, Optional.of(empty))).orElseThrow()
                .contains("is empty; a token needs at least 32"));
        assertTrue(ApiExposure.problem(api(true, "0.0.0.0", true, true, false, Optional.of(shortOne))).orElseThrow()
                .contains("holds a token of 31 bytes; a token needs at least 32"));
        assertTrue(ApiExposure.problem(api(true, "127.0.0.1", false, false, false,
                Optional.of(dir.resolve("missing")))).orElseThrow().contains("cannot read kelpie.api.token-file"));
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
        return api(tcp, host, cert, key, clientCa, token ? Optional.of(goodToken) : Optional.empty());
    }

    private static KelpieConfig.Api api(boolean tcp, String host, boolean cert, boolean key, boolean clientCa,
            Optional<Path> token) {
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
                return token;
            }
        };
    }
}
