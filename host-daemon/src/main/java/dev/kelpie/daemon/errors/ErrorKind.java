package dev.kelpie.daemon.errors;

/**
 * What kind of failure a domain exception reports, in the daemon's terms. One table ({@code api.GrpcErrors}) turns
 * kinds into the statuses clients see; nothing else builds a status.
 */
public enum ErrorKind {
    /** The request itself is wrong: a field out of range, a malformed name. Retrying it unchanged fails again. */
    BAD_REQUEST,
    /** What the request names does not exist: a sandbox, image, package, store. */
    NOT_FOUND,
    /** What the request would create exists already. */
    ALREADY_EXISTS,
    /** The request is fine but the thing it acts on is not in a state that allows it (pause a paused sandbox). */
    WRONG_STATE,
    /** This host or backend cannot do it at all (a network policy libkrun cannot enforce, an incompatible image). */
    UNSUPPORTED,
    /** The host has no room: sandbox count, memory budget, a size limit. */
    NO_ROOM,
    /** A disk the daemon writes to is full. */
    OUT_OF_DISK_SPACE,
    /** Another operation won (a Delete that came while the sandbox was being created). */
    CONFLICT,
    /** Something the daemon depends on does not answer now (a VM, an agent, a store); trying later may work. */
    UNREACHABLE,
    /** The caller went quiet too long. */
    TIMED_OUT,
    /** Stored or received bytes are damaged: a hash or seal does not match. */
    CORRUPT,
    /** A source or store refused the daemon's credentials. */
    DENIED,
    /** The caller did not prove who it is. */
    UNAUTHENTICATED,
    /** The daemon is shutting down. */
    SHUTTING_DOWN,
    /** A bug in the daemon: logged with its stack, reported as INTERNAL. */
    BUG
}
