package dev.kelpie.daemon.sandboxes;

/** A sandbox after a change, and its state before (null for an initial report). */
public record SandboxEvent(SandboxRecord sandbox, SandboxState previousState) {}
