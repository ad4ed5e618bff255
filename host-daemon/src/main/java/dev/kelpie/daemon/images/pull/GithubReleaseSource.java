package dev.kelpie.daemon.images.pull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kelpie.daemon.images.pull.ImagePullException.Reason;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Releases published as GitHub Releases: tag {@code TAG_PREFIX + VERSION} of a repository, the files as its assets.
 * The API base URL is configurable (GitHub Enterprise, or a test server). Assets are fetched through the API's asset
 * URL so a token also reaches private repositories; the redirect to the storage host is followed by hand so the
 * token is never sent there.
 */
public final class GithubReleaseSource extends NamedSource {

    /** A release's JSON lists a few dozen assets (GitHub caps a release at 1000); 4 MiB is far above any real one. */
    static final int MAX_RELEASE_JSON_BYTES = 4 * 1024 * 1024;

    private static final String API_VERSION = "2022-11-28";
    private static final int MAX_REDIRECTS = 5;

    private final URI apiBase;
    private final String repository;
    private final String tagPrefix;
    private final Optional<String> token;
    private final HttpClient http;
    private final ObjectMapper json;
    private final Duration responseTimeout;

    /**
     * @param responseTimeout how long to wait for a response's headers (the body has its own stall watch)
     */
    public GithubReleaseSource(String name, URI apiBase, String repository, String tagPrefix, Optional<String> token,
            boolean requiresSignature, HttpClient http, ObjectMapper json, Duration responseTimeout) {
        super(name, requiresSignature);
        this.apiBase = URI.create(apiBase.toString().replaceAll("/+$", "") + "/");
        this.repository = repository;
        this.tagPrefix = tagPrefix;
        this.token = token.filter(t -> !t.isBlank());
        this.http = http;
        this.json = json;
        this.responseTimeout = responseTimeout;
    }

    @Override
    public String location() {
        return "github:" + repository;
    }

    @Override
    public Optional<Release> find(String version, String arch) {
        URI uri = apiBase.resolve("repos/" + repository + "/releases/tags/" + tagPrefix + version);
        HttpResponse<InputStream> response = send(request(uri, "application/vnd.github+json", true).build(),
                HttpResponse.BodyHandlers.ofInputStream(), "release " + tagPrefix + version);
        byte[] body = boundedBody(response, "release " + tagPrefix + version);
        if (response.statusCode() == 404) {
            return Optional.empty();
        }
        if (response.statusCode() / 100 != 2) {
            throw failure(response.statusCode(), response.headers().map(), new String(body),
                    "release " + tagPrefix + version);
        }
        Map<String, URI> urls = new HashMap<>();
        Map<String, Long> sizes = new HashMap<>();
        try {
            for (JsonNode asset : json.readTree(body).path("assets")) {
                urls.put(asset.path("name").asText(), URI.create(asset.path("url").asText()));
                sizes.put(asset.path("name").asText(), asset.path("size").asLong(-1));
            }
        } catch (IOException | IllegalArgumentException e) {
            throw new ImagePullException(Reason.UNAVAILABLE, location() + ": the release " + tagPrefix + version
                    + " is not the JSON GitHub's API answers: " + e.getMessage());
        }
        return Optional.of(new GithubRelease(location() + "@" + tagPrefix + version, sizes, urls));
    }

    /** The answer's body, read up to {@link #MAX_RELEASE_JSON_BYTES}: a server is not trusted with the daemon's heap. */
    private byte[] boundedBody(HttpResponse<InputStream> response, String what) {
        try (InputStream in = response.body()) {
            byte[] body = in.readNBytes(MAX_RELEASE_JSON_BYTES + 1);
            if (body.length > MAX_RELEASE_JSON_BYTES) {
                throw new ImagePullException(Reason.UNAVAILABLE, location() + ": the answer for " + what
                        + " is larger than " + MAX_RELEASE_JSON_BYTES + " bytes; a release's JSON never is");
            }
            return body;
        } catch (IOException e) {
            throw new ImagePullException(Reason.UNAVAILABLE, location() + ": reading the answer for " + what
                    + " failed: " + e.getMessage());
        }
    }

    private final class GithubRelease extends ListedRelease {
        private final Map<String, URI> urls;

        GithubRelease(String location, Map<String, Long> sizes, Map<String, URI> urls) {
            super(location, sizes);
            this.urls = urls;
        }

        @Override
        public InputStream open(String fileName, long offsetBytes) throws IOException {
            URI uri = urls.get(fileName);
            if (uri == null) {
                throw new ImagePullException(Reason.NOT_FOUND, location() + " has no asset " + fileName);
            }
            boolean withToken = true;
            for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
                HttpRequest.Builder request = request(uri, "application/octet-stream", withToken);
                if (offsetBytes > 0) {
                    request.header("Range", "bytes=" + offsetBytes + "-");
                }
                HttpResponse<InputStream> response = send(request.build(), HttpResponse.BodyHandlers.ofInputStream(),
                        fileName);
                int status = response.statusCode();
                if (status / 100 == 3 && response.headers().firstValue("Location").isPresent()) {
                    response.body().close();
                    URI next = uri.resolve(response.headers().firstValue("Location").get());
                    withToken = withToken && sameOrigin(next, uri);
                    uri = next;
                    continue;
                }
                if (status == 206 || (status == 200 && offsetBytes == 0)) {
                    return response.body();
                }
                if (status == 200) { // the server ignored the range: skip what is already on disk
                    InputStream body = response.body();
                    body.skipNBytes(offsetBytes);
                    return body;
                }
                String text = new String(response.body().readNBytes(4096));
                throw failure(status, response.headers().map(), text, fileName);
            }
            throw new ImagePullException(Reason.UNAVAILABLE, location() + ": more than " + MAX_REDIRECTS
                    + " redirects for " + fileName);
        }
    }

    /** Scheme, host and port: the token's audience is the API's origin, not any host it redirects to. */
    private static boolean sameOrigin(URI a, URI b) {
        return java.util.Objects.equals(a.getScheme(), b.getScheme()) && java.util.Objects.equals(a.getAuthority(),
                b.getAuthority());
    }

    private HttpRequest.Builder request(URI uri, String accept, boolean withToken) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(uri).timeout(responseTimeout).header("Accept", accept)
                .header("User-Agent", "kelpied").header("X-GitHub-Api-Version", API_VERSION);
        if (withToken) {
            token.ifPresent(t -> builder.header("Authorization", "Bearer " + t));
        }
        return builder;
    }

    private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> body, String what) {
        try {
            return http.send(request, body);
        } catch (HttpTimeoutException e) {
            throw new ImagePullException(Reason.UNAVAILABLE, location() + " did not answer for " + what + " within "
                    + responseTimeout.toSeconds() + " s");
        } catch (IOException e) {
            throw new ImagePullException(Reason.UNAVAILABLE, location() + " (" + request.uri().getHost()
                    + ") cannot be reached for " + what + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ImagePullException(Reason.UNAVAILABLE, "interrupted while fetching " + what);
        }
    }

    private ImagePullException failure(int status, Map<String, List<String>> headers, String body,
            String what) {
        String remaining = first(headers, "x-ratelimit-remaining");
        if ((status == 403 || status == 429) && ("0".equals(remaining) || first(headers, "retry-after") != null)) {
            String reset = first(headers, "x-ratelimit-reset");
            String when = reset != null && reset.matches("\\d+") ? " until " + Instant.ofEpochSecond(Long.parseLong(reset))
                    : first(headers, "retry-after") != null ? " for " + first(headers, "retry-after") + " s" : "";
            return new ImagePullException(Reason.RATE_LIMITED, location() + ": GitHub's rate limit is exhausted" + when
                    + (token.isPresent() ? "" : "; configure a token (kelpie.images.sources.<name>.token) for a higher limit"));
        }
        String detail = location() + " answered HTTP " + status + " for " + what + snippet(body);
        return switch (status) {
            case 401, 403 -> new ImagePullException(Reason.DENIED, detail
                    + (token.isPresent() ? "; check the token's access" : "; a token may be needed"));
            case 404 -> new ImagePullException(Reason.NOT_FOUND, detail);
            default -> new ImagePullException(Reason.UNAVAILABLE, detail);
        };
    }

    private static String first(Map<String, List<String>> headers, String name) {
        return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name))
                .flatMap(e -> e.getValue().stream()).findFirst().orElse(null);
    }

    private static String snippet(String body) {
        String text = body.strip().replaceAll("\\s+", " ");
        return text.isEmpty() ? "" : ": " + (text.length() > 200 ? text.substring(0, 200) + "…" : text);
    }
}
