package dev.kelpie.daemon.api.server;

import dev.kelpie.daemon.api.ApiAccess;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.SslHandler;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.Executor;
import javax.net.ssl.SSLSession;
import org.jboss.logging.Logger;

/**
 * Answers {@code GET /q/metrics} with the registry's scrape (OpenMetrics or Prometheus text), under the API's access
 * rules. Plain HTTP/1.1 because that is what Prometheus and curl speak; the gRPC listeners speak only HTTP/2.
 */
@ChannelHandler.Sharable
final class MetricsHttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {

    static final String PATH = "/q/metrics";
    private static final Logger LOG = Logger.getLogger(MetricsHttpHandler.class);
    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
    private static final String OPEN_METRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    private final PrometheusMeterRegistry registry;
    private final ApiAccess access;
    private final Executor scrapes;

    /** @param scrapes runs the scrapes, which take longer than an I/O thread should be held */
    MetricsHttpHandler(PrometheusMeterRegistry registry, ApiAccess access, Executor scrapes) {
        this.registry = registry;
        this.access = access;
        this.scrapes = scrapes;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        if (!PATH.equals(new QueryStringDecoder(request.uri()).path())) {
            respond(ctx, keepAlive, HttpResponseStatus.NOT_FOUND, "only " + PATH + " is served here\n");
            return;
        }
        if (!request.method().equals(HttpMethod.GET)) {
            respond(ctx, keepAlive, HttpResponseStatus.METHOD_NOT_ALLOWED, PATH + " answers GET\n");
            return;
        }
        Optional<String> refusal = access.refusal(ctx.channel().remoteAddress(), tlsSession(ctx),
                request.headers().get(HttpHeaderNames.AUTHORIZATION));
        if (refusal.isPresent()) {
            respond(ctx, keepAlive, HttpResponseStatus.UNAUTHORIZED, refusal.get() + "\n");
            return;
        }
        String format = format(request.headers().get(HttpHeaderNames.ACCEPT));
        scrapes.execute(() -> respond(ctx, keepAlive, HttpResponseStatus.OK, format, registry.scrape(format)));
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debugf("metrics connection from %s failed: %s", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }

    private static SSLSession tlsSession(ChannelHandlerContext ctx) {
        SslHandler tls = ctx.pipeline().get(SslHandler.class);
        return tls == null ? null : tls.engine().getSession();
    }

    /**
     * As Quarkus chose: OpenMetrics, unless the client asks for plain text (Prometheus lists text/plain among the
     * formats it accepts, so it gets the classic text format, as it did).
     */
    private static String format(String accept) {
        return accept != null && (accept.contains("text/plain") || accept.contains("text/html")) ? PROMETHEUS_TEXT
                : OPEN_METRICS;
    }

    private static void respond(ChannelHandlerContext ctx, boolean keepAlive, HttpResponseStatus status, String body) {
        respond(ctx, keepAlive, status, "text/plain; charset=utf-8", body);
    }

    private static void respond(ChannelHandlerContext ctx, boolean keepAlive, HttpResponseStatus status,
            String contentType, String body) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        HttpUtil.setContentLength(response, response.content().readableBytes());
        if (keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            ctx.writeAndFlush(response);
        } else {
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
    }
}
