package dev.kelpie.cli.mcp;

import dev.kelpie.api.v1.SandboxSpec;
import java.time.Duration;
import java.util.List;

/**
 * What the operator lets the agent of one {@code kelpie mcp} session do, from its command line. The daemon has limits
 * of its own; these are tighter ones for a caller that is a model.
 *
 * @param maxSandboxes sandboxes this session may have at once (kept ones count while the session lives)
 * @param maxVcpus virtual CPUs per sandbox
 * @param maxMemoryMib guest memory per sandbox
 * @param maxDiskMib writable disk per sandbox
 * @param egressAllowed destinations a sandbox may be opened to (the daemon's allow-list syntax); empty: no network at
 *     all; {@link #ANY_DESTINATION} lets the agent choose, including "any public address"
 * @param maxCommandTimeout the longest a command may run
 * @param maxOutputBytes the most a command's stdout (and its stderr) or a file read returns
 */
public record McpLimits(int maxSandboxes, int maxVcpus, int maxMemoryMib, int maxDiskMib, List<String> egressAllowed,
        Duration maxCommandTimeout, long maxOutputBytes) {

    /** The operator's word for "the agent may open a sandbox to any public address it names, or to all of them". */
    public static final String ANY_DESTINATION = "any";

    public McpLimits {
        egressAllowed = List.copyOf(egressAllowed);
    }

    /** Refuses an explicit size over a limit before the daemon boots anything; 0 means "the daemon's default". */
    void checkRequestedShape(long vcpus, long memoryMib, long diskMib) {
        over("vcpus", vcpus, maxVcpus, "--max-vcpus");
        over("memory_mib", memoryMib, maxMemoryMib, "--max-memory-mib");
        over("disk_mib", diskMib, maxDiskMib, "--max-disk-mib");
    }

    /**
     * Checks a sandbox's shape as the daemon resolved it: a daemon default, or a restored package's own size, can be
     * larger than what the operator allows.
     */
    void checkResolvedShape(SandboxSpec spec) {
        String hint = " (the daemon's default or the package's size; ask for a smaller one explicitly)";
        if (spec.getVcpuCount() > maxVcpus) {
            throw ToolError.denied("the sandbox would have " + spec.getVcpuCount() + " vCPUs, over the operator's limit"
                    + " of " + maxVcpus + hint);
        }
        if (spec.getMemoryMib() > maxMemoryMib) {
            throw ToolError.denied("the sandbox would have " + spec.getMemoryMib() + " MiB of memory, over the"
                    + " operator's limit of " + maxMemoryMib + " MiB" + hint);
        }
        if (spec.getDiskSizeMib() > maxDiskMib) {
            throw ToolError.denied("the sandbox would have a " + spec.getDiskSizeMib() + " MiB disk, over the"
                    + " operator's limit of " + maxDiskMib + " MiB" + hint);
        }
    }

    private static void over(String argument, long requested, long limit, String flag) {
        if (requested > limit) {
            throw ToolError.denied("'" + argument + "' " + requested + " is over the operator's limit of " + limit
                    + " (kelpie mcp " + flag + ")");
        }
    }

    /**
     * The egress allow-list to ask the daemon for, given what the agent asked: every destination must be one the
     * operator allowed, and none named means all of the operator's (never the daemon's "any public address", unless
     * the operator allowed {@code any}).
     */
    List<String> egressAllowList(List<String> requested) {
        if (egressAllowed.isEmpty()) {
            throw ToolError.denied("the operator allows no network for sandboxes (kelpie mcp --allow-egress); use"
                    + " network 'none'");
        }
        if (egressAllowed.contains(ANY_DESTINATION)) {
            return requested;
        }
        if (requested.isEmpty()) {
            return egressAllowed;
        }
        List<String> refused = requested.stream().filter(d -> !egressAllowed.contains(d)).toList();
        if (!refused.isEmpty()) {
            throw ToolError.denied("destination(s) " + refused + " are not allowed; the operator allows " + egressAllowed);
        }
        return requested;
    }

    /** A command's timeout: the agent's, capped; none asked means the default, also capped. */
    Duration commandTimeout(Long requestedSeconds, Duration defaultTimeout) {
        Duration asked = requestedSeconds == null ? defaultTimeout : Duration.ofSeconds(requestedSeconds);
        if (asked.compareTo(maxCommandTimeout) > 0) {
            if (requestedSeconds == null) {
                return maxCommandTimeout;
            }
            throw ToolError.denied("'timeout_seconds' " + requestedSeconds + " is over the operator's limit of "
                    + maxCommandTimeout.toSeconds() + " (kelpie mcp --max-command-timeout)");
        }
        return asked;
    }

    /** An output or read size: the agent's, which may not exceed the operator's; none asked means the default. */
    long outputBytes(Long requested, long defaultBytes) {
        if (requested == null) {
            return Math.min(defaultBytes, maxOutputBytes);
        }
        if (requested > maxOutputBytes) {
            throw ToolError.denied("'max_output_bytes' " + requested + " is over the operator's limit of "
                    + maxOutputBytes + " (kelpie mcp --max-output-bytes)");
        }
        return requested;
    }
}
