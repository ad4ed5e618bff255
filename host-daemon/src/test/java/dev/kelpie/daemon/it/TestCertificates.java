package dev.kelpie.daemon.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Certificate authorities and the certificates they sign, made with the openssl CLI for TLS tests. */
final class TestCertificates {

    /** A certificate and its private key (PEM, PKCS#8). */
    record KeyPair(Path cert, Path key) {}

    private final Path dir;

    TestCertificates(Path dir) {
        this.dir = dir;
    }

    /** A self-signed CA. */
    KeyPair authority(String name) throws IOException, InterruptedException {
        KeyPair ca = new KeyPair(dir.resolve(name + ".pem"), dir.resolve(name + ".key"));
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=" + name, "-keyout", ca.key().toString(), "-out", ca.cert().toString());
        return ca;
    }

    /** A certificate signed by {@code ca}; {@code ipAddresses} become its subjectAltName (for a server). */
    KeyPair signed(KeyPair ca, String name, List<String> ipAddresses) throws IOException, InterruptedException {
        KeyPair pair = new KeyPair(dir.resolve(name + ".pem"), dir.resolve(name + ".key"));
        Path request = dir.resolve(name + ".csr");
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + name,
                "-keyout", pair.key().toString(), "-out", request.toString());
        List<String> sign = new ArrayList<>(List.of("x509", "-req", "-in", request.toString(), "-CA", ca.cert().toString(),
                "-CAkey", ca.key().toString(), "-CAcreateserial", "-days", "2", "-out", pair.cert().toString()));
        if (!ipAddresses.isEmpty()) {
            Path extensions = dir.resolve(name + ".ext");
            Files.writeString(extensions, "subjectAltName=" + String.join(",", ipAddresses.stream().map(ip -> "IP:" + ip)
                    .toList()) + "\n");
            sign.addAll(List.of("-extfile", extensions.toString()));
        }
        openssl(sign.toArray(String[]::new));
        return pair;
    }

    private void openssl(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + output);
        }
    }
}
