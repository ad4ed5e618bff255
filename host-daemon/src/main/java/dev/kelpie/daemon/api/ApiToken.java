package dev.kelpie.daemon.api;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** The bearer token TCP clients present: read from {@code kelpie.api.token-file}, and only if it is long enough. */
public final class ApiToken {

    /** 32 bytes: a guess must not be cheaper than breaking the TLS it travels in. */
    public static final int MIN_TOKEN_BYTES = 32;

    private ApiToken() {}

    /**
     * The file's content without surrounding whitespace.
     *
     * @throws IllegalArgumentException when the file cannot be read, or holds no token or a short one, saying which
     */
    public static byte[] read(Path file) {
        byte[] token;
        try {
            token = Files.readString(file, StandardCharsets.UTF_8).strip().getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read kelpie.api.token-file " + file + ": " + e.getMessage(), e);
        }
        if (token.length < MIN_TOKEN_BYTES) {
            throw new IllegalArgumentException("kelpie.api.token-file " + file + (token.length == 0 ? " is empty"
                    : " holds a token of " + token.length + " bytes") + "; a token needs at least " + MIN_TOKEN_BYTES
                    + " (e.g. openssl rand -hex 32 > " + file + ")");
        }
        return token;
    }
}
