package dev.kelpie.daemon.sim;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

/**
 * The faults of one simulated run. Before a step the simulation may arm one fault: a seam point, which of its calls
 * in that step, and what happens there. Every seam of the simulated world asks {@link #at} on each call.
 *
 * <p>A crash is the daemon dying at that point: the calling thread stops for good (it parks until the run is over, so
 * no code of the dead daemon runs on, not even its finally blocks), and the simulation starts a successor on the same
 * state. A thread of a dead daemon that reaches any seam stops there too.
 */
final class Faults {

    enum Kind {
        /** The call fails the way that seam fails (an exception of its contract). */
        FAIL,
        /** The daemon dies at the call. */
        CRASH,
        /** The daemon dies halfway through the transfer the call starts. */
        CRASH_MIDWAY,
        /** The VM dies during the call, which then fails. */
        VM_DIES,
        /** The bytes read arrive with one bit flipped. */
        CORRUPT,
        /** The bytes read end early. */
        TRUNCATE
    }

    /** Where faults strike, and which kinds each seam can suffer. Blob reads are named per blob: they run in parallel. */
    static final Map<String, List<Kind>> POINTS = points();

    private static Map<String, List<Kind>> points() {
        Map<String, List<Kind>> p = new LinkedHashMap<>();
        p.put("vm.boot", List.of(Kind.FAIL, Kind.CRASH));
        p.put("vm.restore", List.of(Kind.FAIL, Kind.CRASH));
        p.put("vm.save", List.of(Kind.FAIL, Kind.VM_DIES, Kind.CRASH));
        p.put("vm.pause", List.of(Kind.VM_DIES));
        p.put("vm.stop", List.of(Kind.CRASH));
        p.put("agent.dial", List.of(Kind.FAIL, Kind.CRASH));
        p.put("record.save", List.of(Kind.CRASH));
        p.put("record.saved", List.of(Kind.CRASH));
        p.put("record.delete", List.of(Kind.CRASH));
        p.put("runtime.delete", List.of(Kind.CRASH));
        p.put("store.publish", List.of(Kind.FAIL, Kind.CRASH));
        p.put("store.published", List.of(Kind.CRASH));
        p.put("store.manifest", List.of(Kind.FAIL));
        for (String blob : List.of("workspace.tar.zst", "vm-memory.zst", "vm-disk.zst")) {
            p.put("store.blob:" + blob, List.of(Kind.FAIL, Kind.CORRUPT, Kind.TRUNCATE));
        }
        p.put("release.archive", List.of(Kind.FAIL, Kind.CORRUPT, Kind.TRUNCATE, Kind.CRASH_MIDWAY));
        return Map.copyOf(p);
    }

    /** An armed fault: {@code kind} strikes at the {@code call}-th call of {@code point} in the current step. */
    record Armed(String point, int call, Kind kind) {
        @Override
        public String toString() {
            return kind + " at " + point + " call " + call;
        }
    }

    /** One daemon's life, which a crash ends. */
    static final class Life {
        private final CompletableFuture<String> crashed = new CompletableFuture<>();
        private final CountDownLatch released = new CountDownLatch(1);

        boolean dead() {
            return crashed.isDone();
        }

        /** Completes with where the daemon died. */
        CompletableFuture<String> crashed() {
            return crashed;
        }
    }

    /**
     * A seam call held until released, so that another operation runs while this one is midway: how the simulation
     * interleaves two operations. Only the {@code call}-th call of {@code point} is held.
     */
    static final class Hold {
        final String point;
        final int call;
        private final CompletableFuture<Thread> reached = new CompletableFuture<>();
        private final CountDownLatch released = new CountDownLatch(1);

        private Hold(String point, int call) {
            this.point = point;
            this.call = call;
        }

        /** Completes with the held thread once the call arrives. */
        CompletableFuture<Thread> reached() {
            return reached;
        }

        void release() {
            released.countDown();
        }

        @Override
        public String toString() {
            return point + " call " + call;
        }
    }

    private static final int MAX_CALL_INDEX = 2;
    private final List<String> pointNames = POINTS.keySet().stream().sorted().toList();
    private final List<Life> lives = new CopyOnWriteArrayList<>();
    private final Map<String, Integer> calls = new HashMap<>();
    private Armed armed;
    private Armed fired;
    private Hold hold;
    private final Map<String, Integer> holdCalls = new HashMap<>();

    Life newLife() {
        Life life = new Life();
        lives.add(life);
        return life;
    }

    /**
     * Arms, with {@code probability}, one fault at a point whose name starts with one of {@code prefixes} (the seams
     * the coming step passes), drawn from {@code random}; forgets the last step's calls.
     */
    synchronized void arm(Random random, double probability, List<String> prefixes) {
        calls.clear();
        fired = null;
        armed = null;
        List<String> candidates = pointNames.stream().filter(p -> prefixes.stream().anyMatch(p::startsWith)).toList();
        if (!candidates.isEmpty() && random.nextDouble() < probability) {
            String point = candidates.get(random.nextInt(candidates.size()));
            List<Kind> kinds = POINTS.get(point);
            armed = new Armed(point, 1 + random.nextInt(MAX_CALL_INDEX), kinds.get(random.nextInt(kinds.size())));
        }
    }

    /** Ends the step's fault: what fired, if anything. */
    synchronized Optional<Armed> disarm() {
        Optional<Armed> result = Optional.ofNullable(fired);
        armed = null;
        fired = null;
        return result;
    }

    /**
     * Called by a seam on each call: the fault to suffer here, or null. Does not return when the daemon dies here or
     * is already dead.
     */
    Kind at(Life life, String point) {
        Kind kind;
        synchronized (this) {
            if (life.dead()) {
                kind = Kind.CRASH;
            } else {
                int call = calls.merge(point, 1, Integer::sum);
                if (armed == null || !armed.point().equals(point) || armed.call() != call) {
                    return null;
                }
                fired = armed;
                armed = null;
                kind = fired.kind();
            }
        }
        if (kind == Kind.CRASH) {
            crash(life, point);
        }
        return kind;
    }

    /** Holds the {@code call}-th call of {@code point} from now on, until the hold is released. */
    synchronized Hold holdAt(String point, int call) {
        holdCalls.clear();
        hold = new Hold(point, call);
        return hold;
    }

    /** Ends the hold (releasing a held call, if one is held). */
    void clearHold() {
        Hold h;
        synchronized (this) {
            h = hold;
            hold = null;
        }
        if (h != null) {
            h.release();
        }
    }

    /**
     * Called by seams whose real calls can wait (boot, dial, save, stop): waits here while a hold is armed for this
     * call, and, like the real call, gives up when the thread is interrupted.
     */
    void mayHold(String point) throws InterruptedException {
        Hold h = holdFor(point);
        if (h != null) {
            h.released.await();
        }
    }

    /** {@link #mayHold} for a seam whose real call cannot be interrupted (a pause). */
    void mayHoldUninterruptibly(String point) {
        Hold h = holdFor(point);
        boolean interrupted = false;
        while (h != null) {
            try {
                h.released.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private synchronized Hold holdFor(String point) {
        if (hold == null || !hold.point.equals(point) || holdCalls.merge(point, 1, Integer::sum) != hold.call
                || hold.reached.isDone()) {
            return null;
        }
        hold.reached.complete(Thread.currentThread());
        return hold;
    }

    /** The daemon of {@code life} dies here, in the calling thread, which never returns. */
    void crash(Life life, String where) {
        life.crashed.complete(where);
        parkForGood(life);
    }

    /** A kill -9 while the daemon is idle: no thread of it is stopped anywhere in particular. */
    static void killIdle(Life life) {
        life.crashed.complete("idle");
    }

    private static void parkForGood(Life life) {
        boolean interrupted = false;
        while (true) {
            try {
                life.released.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        throw new SimulatedCrash();
    }

    /** Lets the parked threads of dead daemons unwind, at the end of a run. */
    void releaseDeadDaemons() {
        List<Life> dead = new ArrayList<>(lives);
        dead.stream().filter(Life::dead).forEach(l -> l.released.countDown());
    }
}
