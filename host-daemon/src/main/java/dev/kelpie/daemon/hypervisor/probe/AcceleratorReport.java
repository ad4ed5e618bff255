package dev.kelpie.daemon.hypervisor.probe;

/** What is known about one accelerator ({@code kvm}, {@code hvf}, {@code tcg}) of a backend. */
public record AcceleratorReport(Accelerator accelerator, ProbeResult result) {}
