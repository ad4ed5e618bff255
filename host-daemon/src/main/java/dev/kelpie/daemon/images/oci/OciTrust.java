package dev.kelpie.daemon.images.oci;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * The CAs registries are checked against, as the PEM the OCI library takes. The library trusts either the JDK's
 * store or the CAs it is given, not both; configured CAs come beside the system's, so the system's are written out
 * with them.
 */
final class OciTrust {

    private OciTrust() {}

    /** Empty when no CA is configured: the library then uses the JDK's store as it is. */
    static String pem(List<Path> caFiles) {
        if (caFiles.isEmpty()) {
            return "";
        }
        StringBuilder pem = new StringBuilder();
        try {
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init((KeyStore) null);
            Base64.Encoder base64 = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII));
            for (var manager : factory.getTrustManagers()) {
                if (manager instanceof X509TrustManager x509) {
                    for (X509Certificate ca : x509.getAcceptedIssuers()) {
                        pem.append("-----BEGIN CERTIFICATE-----\n").append(base64.encodeToString(ca.getEncoded()))
                                .append("\n-----END CERTIFICATE-----\n");
                    }
                }
            }
        } catch (NoSuchAlgorithmException | KeyStoreException | CertificateEncodingException e) {
            throw new IllegalStateException("cannot read the JDK's trust store: " + e.getMessage(), e);
        }
        for (Path file : caFiles) {
            try {
                pem.append(Files.readString(file, StandardCharsets.US_ASCII)).append('\n');
            } catch (IOException e) {
                throw new UncheckedIOException("kelpie.images.oci.ca-files: cannot read " + file + ": "
                        + e.getMessage(), e);
            }
        }
        return pem.toString();
    }
}
