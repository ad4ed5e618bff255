package dev.kelpie.daemon.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/**
 * A bare Streamable HTTP client for what the SDK clients do not do on purpose: send a foreign Origin or Host, walk
 * away from a session without deleting it, reuse an ended session's id.
 */
final class RawMcpHttp {

    static final String INITIALIZE = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
            + "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"raw\",\"version\":\"1\"}}}";
    static final String INITIALIZED = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final URI endpoint;

    RawMcpHttp(URI endpoint) {
        this.endpoint = endpoint;
    }

    HttpResponse<String> post(String sessionId, String body, Map<String, String> headers) throws IOException,
            InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(endpoint).timeout(Await.scaled(Duration.ofMinutes(5)))
                .header("Content-Type", "application/json").header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (sessionId != null) {
            b.header("Mcp-Session-Id", sessionId);
        }
        headers.forEach(b::header);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * The status of an initialize request sent with this {@code Host} header, over a plain socket: java.net.http
     * does not let a caller set Host, and a page that rebinds its name to 127.0.0.1 sends its own name there.
     */
    int statusWithHost(String host) throws IOException {
        try (var socket = new java.net.Socket(endpoint.getHost(), endpoint.getPort())) {
            socket.setSoTimeout((int) Await.scaled(Duration.ofSeconds(30)).toMillis());
            byte[] body = INITIALIZE.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            String head = "POST " + endpoint.getPath() + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type:"
                    + " application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: "
                    + body.length + "\r\nConnection: close\r\n\r\n";
            socket.getOutputStream().write(head.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            socket.getOutputStream().write(body);
            socket.getOutputStream().flush();
            String status = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
                    java.nio.charset.StandardCharsets.US_ASCII)).readLine();
            return Integer.parseInt(status.split(" ")[1]);
        }
    }

    /** Initializes a session and returns its id. */
    String initialize() throws IOException, InterruptedException {
        HttpResponse<String> init = post(null, INITIALIZE, Map.of());
        if (init.statusCode() != 200) {
            throw new AssertionError("initialize: " + init.statusCode() + " " + init.body());
        }
        String session = init.headers().firstValue("Mcp-Session-Id").orElseThrow();
        post(session, INITIALIZED, Map.of());
        return session;
    }

    static String toolCall(int id, String tool, String argumentsJson) {
        return "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool
                + "\",\"arguments\":" + argumentsJson + "}}";
    }

    /** The JSON-RPC answer in a response, sent as plain JSON or as an event of an SSE stream. */
    static JsonNode answer(HttpResponse<String> response) throws IOException {
        if (response.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream")) {
            for (String line : response.body().split("\n")) {
                if (line.startsWith("data:")) {
                    JsonNode message = JSON.readTree(line.substring(5).trim());
                    if (message.has("id")) {
                        return message;
                    }
                }
            }
            throw new AssertionError("no answer in the stream: " + response.body());
        }
        return JSON.readTree(response.body());
    }
}
