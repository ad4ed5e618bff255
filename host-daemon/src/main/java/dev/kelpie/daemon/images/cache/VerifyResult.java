package dev.kelpie.daemon.images.cache;

/** What a full re-hash of a cached image covered. */
public record VerifyResult(int filesChecked, long hashedBytes) {}
