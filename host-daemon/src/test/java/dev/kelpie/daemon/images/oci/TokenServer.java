package dev.kelpie.daemon.images.oci;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The token endpoint of the registry's {@code auth.token} scheme, as Docker Hub's: answers a client sent there by a
 * {@code WWW-Authenticate: Bearer} challenge with a JWT (RS256, its certificate in {@code x5c}) granting the asked
 * scope. Anonymous clients get pull access when {@code anonymousPull}; basic credentials must match the user's.
 */
final class TokenServer implements AutoCloseable {

    static final String SERVICE = "kelpie-test-registry";
    static final String ISSUER = "kelpie-test-issuer";
    private static final long TOKEN_LIFETIME_SECONDS = 300;

    private final HttpServer server;
    private final PrivateKey key;
    private final String certificateDer;
    private final Path certificate;
    private final boolean anonymousPull;
    private final String user;
    private final String password;
    private final ObjectMapper json = new ObjectMapper();
    final AtomicInteger issued = new AtomicInteger();

    private TokenServer(Path dir, boolean anonymousPull, String user, String password) throws Exception {
        this.anonymousPull = anonymousPull;
        this.user = user;
        this.password = password;
        Path keyFile = dir.resolve("token-key.pem");
        certificate = dir.resolve("token-cert.pem");
        Process openssl = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                keyFile.toString(), "-out", certificate.toString(), "-subj", "/CN=kelpie-test-token", "-days", "1")
                .redirectErrorStream(true).redirectOutput(dir.resolve("openssl.log").toFile()).start();
        if (!openssl.waitFor(60, TimeUnit.SECONDS) || openssl.exitValue() != 0) {
            throw new IllegalStateException("openssl failed: " + Files.readString(dir.resolve("openssl.log")));
        }
        key = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(pemBody(keyFile)));
        certificateDer = Base64.getEncoder().encodeToString(pemBody(certificate));
        server = HttpServer.create(new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/token", this::token);
        server.start();
    }

    static TokenServer start(Path dir, boolean anonymousPull, String user, String password) throws Exception {
        return new TokenServer(dir, anonymousPull, user, password);
    }

    /** The registry's {@code auth:} section that sends clients here. */
    String registryAuthYaml() {
        return """
                auth:
                  token:
                    realm: http://127.0.0.1:%d/token
                    service: %s
                    issuer: %s
                    rootcertbundle: %s
                """.formatted(server.getAddress().getPort(), SERVICE, ISSUER, certificate);
    }

    /** A token for the tests' own pushes. */
    String mint(String repository, String... actions) throws Exception {
        return jwt("test-pusher", List.of(access(repository, List.of(actions))));
    }

    private void token(HttpExchange exchange) throws IOException {
        try (exchange) {
            Map<String, String> query = query(exchange.getRequestURI().getRawQuery());
            String authorization = exchange.getRequestHeaders().getFirst("Authorization");
            String subject = "";
            if (authorization != null && authorization.startsWith("Basic ")) {
                String[] given = new String(Base64.getDecoder().decode(authorization.substring(6)),
                        StandardCharsets.UTF_8).split(":", 2);
                if (given.length != 2 || !given[0].equals(user) || !given[1].equals(password)) {
                    exchange.sendResponseHeaders(401, -1);
                    return;
                }
                subject = user;
            } else if (!anonymousPull) {
                exchange.sendResponseHeaders(401, -1);
                return;
            }
            List<Map<String, Object>> granted = new ArrayList<>();
            String scope = query.getOrDefault("scope", "");
            for (String one : scope.split(" ")) {
                String[] parts = one.split(":");
                if (parts.length == 3 && parts[0].equals("repository")) {
                    granted.add(access(parts[1], List.of("pull")));
                }
            }
            ObjectNode body = json.createObjectNode();
            String token = jwt(subject, granted);
            body.put("token", token).put("access_token", token).put("expires_in", TOKEN_LIFETIME_SECONDS);
            byte[] bytes = json.writeValueAsBytes(body);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, bytes.length);
            exchange.getResponseBody().write(bytes);
            issued.incrementAndGet();
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    private static Map<String, Object> access(String repository, List<String> actions) {
        return Map.of("type", "repository", "name", repository, "actions", actions);
    }

    private String jwt(String subject, List<Map<String, Object>> access) throws Exception {
        long now = Instant.now().getEpochSecond();
        Map<String, Object> header = Map.of("typ", "JWT", "alg", "RS256", "x5c", List.of(certificateDer));
        Map<String, Object> claims = new HashMap<>();
        claims.put("iss", ISSUER);
        claims.put("sub", subject);
        claims.put("aud", SERVICE);
        claims.put("iat", now);
        claims.put("nbf", now - 10);
        claims.put("exp", now + TOKEN_LIFETIME_SECONDS);
        claims.put("jti", UUID.randomUUID().toString());
        claims.put("access", access);
        Base64.Encoder url = Base64.getUrlEncoder().withoutPadding();
        String signingInput = url.encodeToString(json.writeValueAsBytes(header)) + "."
                + url.encodeToString(json.writeValueAsBytes(claims));
        Signature rsa = Signature.getInstance("SHA256withRSA");
        rsa.initSign(key);
        rsa.update(signingInput.getBytes(StandardCharsets.US_ASCII));
        return signingInput + "." + url.encodeToString(rsa.sign());
    }

    private static Map<String, String> query(String raw) {
        Map<String, String> out = new HashMap<>();
        if (raw != null) {
            for (String pair : raw.split("&")) {
                int eq = pair.indexOf('=');
                if (eq > 0) {
                    out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                            URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
                }
            }
        }
        return out;
    }

    private static byte[] pemBody(Path pem) throws IOException {
        String text = Files.readString(pem);
        String body = text.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return Base64.getDecoder().decode(body);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
