package dev.kelpie.daemon.sim;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The connections of one daemon life, cut when it dies: no callback of a call made on them arrives afterwards. An API
 * client learns of the cut once, as UNAVAILABLE, the way a dropped socket tells it; the dead daemon's own calls (its
 * agent sessions) learn nothing, since nothing of it runs any more.
 *
 * <p>Cutting instead of shutting the in-process transports down matters: a transport shutdown runs the dead daemon's
 * cancellation handlers, which could wait forever for a lock one of its frozen threads holds.
 */
final class CutOnDeath implements ClientInterceptor {

    private final Faults.Life life;
    private final boolean tellTheCaller;
    private final Set<CutCall<?, ?>> open = ConcurrentHashMap.newKeySet();
    private volatile boolean cut;

    /** @param tellTheCaller whether a cut call's caller hears UNAVAILABLE (an API client) or nothing (the daemon) */
    CutOnDeath(Faults.Life life, boolean tellTheCaller) {
        this.life = life;
        this.tellTheCaller = tellTheCaller;
        life.crashed().thenRun(this::cutAll);
    }

    private void cutAll() {
        cut = true;
        open.forEach(CutCall::cut);
    }

    @Override
    public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
        return new CutCall<>(next.newCall(method, options));
    }

    /** {@code channel} with its calls cut on death; shutting it down shuts {@code channel} down. */
    ManagedChannel wrap(ManagedChannel channel) {
        Channel intercepted = ClientInterceptors.intercept(channel, this);
        return new ManagedChannel() {
            @Override
            public <Q, A> ClientCall<Q, A> newCall(MethodDescriptor<Q, A> method, CallOptions options) {
                return intercepted.newCall(method, options);
            }

            @Override
            public String authority() {
                return channel.authority();
            }

            @Override
            public ManagedChannel shutdown() {
                channel.shutdown();
                return this;
            }

            @Override
            public boolean isShutdown() {
                return channel.isShutdown();
            }

            @Override
            public boolean isTerminated() {
                return channel.isTerminated();
            }

            @Override
            public ManagedChannel shutdownNow() {
                channel.shutdownNow();
                return this;
            }

            @Override
            public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
                return channel.awaitTermination(timeout, unit);
            }
        };
    }

    private final class CutCall<Q, A> extends ForwardingClientCall.SimpleForwardingClientCall<Q, A> {
        private final AtomicBoolean closed = new AtomicBoolean();
        private volatile Listener<A> caller;

        CutCall(ClientCall<Q, A> call) {
            super(call);
        }

        @Override
        public void start(Listener<A> listener, Metadata headers) {
            caller = listener;
            open.add(this);
            super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                @Override
                public void onHeaders(Metadata headers) {
                    if (delivers()) {
                        super.onHeaders(headers);
                    }
                }

                @Override
                public void onMessage(A message) {
                    if (delivers()) {
                        super.onMessage(message);
                    }
                }

                @Override
                public void onReady() {
                    if (delivers()) {
                        super.onReady();
                    }
                }

                @Override
                public void onClose(Status status, Metadata trailers) {
                    if (!life.dead() && closed.compareAndSet(false, true)) {
                        open.remove(CutCall.this);
                        super.onClose(status, trailers);
                    }
                }
            }, headers);
            if (cut) {
                cut();
            }
        }

        /**
         * Whether a callback may reach the caller. Also asked of the life itself, not only of this call's flag: a call
         * the cut missed (it raced the death) must not run the dead daemon's code either, which could wait forever
         * for a lock one of its frozen threads holds.
         */
        private boolean delivers() {
            return !closed.get() && !life.dead();
        }

        void cut() {
            if (closed.compareAndSet(false, true)) {
                open.remove(this);
                if (tellTheCaller) {
                    caller.onClose(Status.UNAVAILABLE.withDescription("the connection to the daemon was lost"),
                            new Metadata());
                }
            }
        }
    }
}
