package dev.kelpie.cli.mcp;

import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * In front of the SDK's servlet: tells {@link HttpSessions} when a session's requests and streams start and end (its
 * idle clock), refuses ids of ended sessions with 404, and ends a session the client deleted once the SDK accepted the
 * DELETE, so that a client's DELETE returns after its sandboxes are gone.
 */
final class SessionRequests extends HttpFilter {

    /** The Streamable HTTP transport's session header. */
    static final String SESSION_HEADER = "Mcp-Session-Id";

    private final transient HttpSessions sessions;

    SessionRequests(HttpSessions sessions) {
        this.sessions = sessions;
    }

    @Override
    protected void doFilter(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        String id = request.getHeader(SESSION_HEADER);
        if (id == null) {
            chain.doFilter(request, response);
            return;
        }
        HttpSessions.Admission admission = sessions.started(id);
        if (admission == HttpSessions.Admission.REFUSED) {
            response.setStatus(HttpServletResponse.SC_NOT_FOUND);
            response.setContentType("application/json");
            response.getOutputStream().write(("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32001,\"message\":"
                    + "\"Session not found: it has ended; start a new one\"}}").getBytes(StandardCharsets.UTF_8));
            return;
        }
        boolean async = false;
        try {
            chain.doFilter(request, response);
            if (admission == HttpSessions.Admission.TRACKED && request.isAsyncStarted()) {
                // A streamed answer or the client's listening stream: the session is active until it closes.
                request.getAsyncContext().addListener(new Finished(id));
                async = true;
            }
        } finally {
            if (admission == HttpSessions.Admission.TRACKED && !async) {
                sessions.finished(id);
            }
        }
        if ("DELETE".equals(request.getMethod()) && response.getStatus() < 300) {
            sessions.end(id, "the client deleted it");
        }
    }

    private final class Finished implements AsyncListener {
        private final String id;

        Finished(String id) {
            this.id = id;
        }

        @Override
        public void onComplete(AsyncEvent event) {
            sessions.finished(id);
        }

        @Override
        public void onTimeout(AsyncEvent event) {}

        @Override
        public void onError(AsyncEvent event) {}

        @Override
        public void onStartAsync(AsyncEvent event) {}
    }
}
