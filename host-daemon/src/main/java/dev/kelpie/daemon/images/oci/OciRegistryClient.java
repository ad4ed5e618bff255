package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.daemon.images.pull.ImagePullException;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import land.oras.ContainerRef;
import land.oras.Descriptor;
import land.oras.Registry;
import land.oras.auth.AuthProvider;
import land.oras.auth.AuthStore;
import land.oras.auth.AuthStoreAuthenticationProvider;
import land.oras.auth.HttpClient;
import land.oras.auth.NoAuthProvider;
import land.oras.auth.Scopes;
import land.oras.auth.UsernamePasswordProvider;
import land.oras.exception.OrasException;

/**
 * Speaks the OCI distribution API through the ORAS Java SDK (ADR 0030): the library answers the
 * {@code WWW-Authenticate} challenges (bearer tokens, basic credentials) and serves manifests; blobs are read through
 * its HTTP client with a {@code Range} header so that a broken layer download resumes.
 */
public final class OciRegistryClient {

    private final OciRegistrySettings settings;
    private final String caPem;
    private final ExecutorService executor;
    private final Map<String, Connection> connections = new ConcurrentHashMap<>();

    public OciRegistryClient(OciRegistrySettings settings, ExecutorService executor) {
        this.settings = settings;
        this.caPem = OciTrust.pem(settings.caFiles());
        this.executor = executor;
    }

    /** A manifest or index exactly as the registry sent it. */
    public record FetchedManifest(String mediaType, byte[] bytes) {}

    /** Fetches the manifest or index {@code reference} names (by tag or digest). */
    public FetchedManifest manifest(OciReference reference) {
        Connection c = connection(reference.registry());
        try {
            Descriptor descriptor = c.registry.getDescriptor(containerRef(reference));
            String json = descriptor.getJson();
            if (json == null) {
                throw new ImagePullException(Reason.DAMAGED, reference + ": the registry sent no manifest body");
            }
            String mediaType = descriptor.getMediaType() == null ? "" : descriptor.getMediaType();
            int semicolon = mediaType.indexOf(';');
            return new FetchedManifest(semicolon < 0 ? mediaType.trim() : mediaType.substring(0, semicolon).trim(),
                    json.getBytes(StandardCharsets.UTF_8));
        } catch (OrasException e) {
            throw translate(e, "the manifest of " + reference);
        }
    }

    /**
     * Reads a blob from {@code offsetBytes} on.
     *
     * @throws ImagePullException when the registry refuses or lacks it
     */
    public InputStream openBlob(OciReference reference, String digest, long offsetBytes) throws IOException {
        Connection c = connection(reference.registry());
        ContainerRef ref = containerRef(reference.at(digest));
        URI uri = URI.create(c.registry.getScheme() + "://" + ref.getBlobsPath(c.registry));
        Map<String, String> headers = offsetBytes > 0 ? Map.of("Range", "bytes=" + offsetBytes + "-") : Map.of();
        HttpClient.ResponseWrapper<InputStream> response;
        try {
            response = c.http.download(uri, headers, Scopes.of(ref), c.auth);
        } catch (OrasException e) {
            throw translate(e, "blob " + digest + " of " + reference.repositoryName());
        }
        int status = response.statusCode();
        InputStream body = response.response();
        if (status == 206 || (status == 200 && offsetBytes == 0)) {
            return body;
        }
        if (status == 200) {
            // The registry ignored the range: skip what is already on disk rather than fetch the blob twice over.
            body.skipNBytes(offsetBytes);
            return body;
        }
        body.close();
        throw failure(status, "blob " + digest + " of " + reference.repositoryName(), "");
    }

    /** Where a registry is, for messages. */
    public String location(OciReference reference) {
        return connection(reference.registry()).registry.getScheme() + "://" + reference.repositoryName();
    }

    private Connection connection(String host) {
        return connections.computeIfAbsent(host, h -> {
            AuthProvider auth = authFor(h);
            boolean insecure = settings.insecure().contains(h);
            Registry.Builder registry = Registry.builder().withRegistry(h).withInsecure(insecure)
                    .withAuthProvider(auth).withExecutorService(executor);
            HttpClient.Builder http = HttpClient.Builder.builder();
            if (!caPem.isEmpty()) {
                registry = registry.withCaContent(caPem);
                http = http.withCaContent(caPem);
            }
            return new Connection(registry.build(), http.build(), auth);
        });
    }

    private AuthProvider authFor(String host) {
        OciRegistrySettings.Credentials credentials = settings.credentials().get(host);
        if (credentials != null) {
            return new UsernamePasswordProvider(credentials.username(), credentials.password());
        }
        if (settings.dockerConfig().isPresent()) {
            return new AuthStoreAuthenticationProvider(AuthStore.newStore(java.util.List.of(
                    settings.dockerConfig().get())));
        }
        return new NoAuthProvider();
    }

    private static ContainerRef containerRef(OciReference reference) {
        try {
            return ContainerRef.parse(reference.toString());
        } catch (IllegalArgumentException | OrasException e) {
            throw new InvalidRequestException("'" + reference + "' is not a reference the registry client accepts: "
                    + e.getMessage());
        }
    }

    private static ImagePullException translate(OrasException e, String what) {
        int status = e.getStatusCode(); // -1 when no HTTP answer came: a connection, TLS or token failure
        if (status <= 0) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            return new ImagePullException(Reason.UNAVAILABLE, "cannot fetch " + what + ": " + e.getMessage()
                    + (cause != e ? " (" + cause + ")" : ""), e);
        }
        return failure(status, what, e.getMessage());
    }

    private static ImagePullException failure(int status, String what, String detail) {
        String suffix = detail.isEmpty() ? "" : " (" + detail + ")";
        return switch (status) {
            case 404 -> new ImagePullException(Reason.NOT_FOUND, "the registry has no " + what + suffix);
            case 401, 403 -> new ImagePullException(Reason.DENIED, "the registry refused access to " + what
                    + ": HTTP " + status + "; configure credentials (kelpie.images.oci.credentials or docker-config)"
                    + suffix);
            case 429 -> new ImagePullException(Reason.RATE_LIMITED, "the registry rate-limits " + what + suffix);
            default -> new ImagePullException(Reason.UNAVAILABLE, "the registry answered HTTP " + status + " for "
                    + what + suffix);
        };
    }

    private record Connection(Registry registry, HttpClient http, AuthProvider auth) {}
}
