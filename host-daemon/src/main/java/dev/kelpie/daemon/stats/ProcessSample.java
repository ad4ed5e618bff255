package dev.kelpie.daemon.stats;

import java.util.OptionalLong;

/**
 * A VM process as the host's OS reports it at one moment.
 *
 * @param cpuSeconds CPU time (user + system) since the process started
 * @param pssBytes proportional set size; empty where the OS does not report it (macOS)
 */
public record ProcessSample(double cpuSeconds, long rssBytes, OptionalLong pssBytes) {}
