package dev.kelpie.daemon.sim;

/**
 * Unwinds a thread of a daemon that died in a simulation, once the run is over. An {@link Error}, so the daemon's
 * {@code catch (RuntimeException ...)} cleanup does not run: a killed process cleans nothing up.
 */
final class SimulatedCrash extends Error {

    SimulatedCrash() {
        super("this simulated daemon crashed", null, false, false);
    }
}
