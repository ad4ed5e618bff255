package dev.kelpie.daemon.lifecycle;

import dev.kelpie.daemon.api.server.ApiEndpoints;

/** Fired (asynchronously) once the API server listens on every endpoint. */
public record ApiListening(ApiEndpoints endpoints) {}
