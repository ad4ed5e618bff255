package dev.kelpie.daemon.api;

import java.util.concurrent.Executor;
import java.util.concurrent.Executors;

/**
 * Where the API's asynchronous steps continue (an agent session that came up, a broken stream explained): a virtual
 * thread each, never the thread that completed the future, which may be a Netty event loop, the agent channel's
 * callback thread or the JDK's single timeout thread, none of which may run our code for long.
 */
final class Continuations {

    /** One virtual thread per step (a per-task executor holds no idle threads, so it is never closed). */
    static final Executor EXECUTOR = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("kelpie-api-continuation-", 0).factory());

    private Continuations() {}
}
