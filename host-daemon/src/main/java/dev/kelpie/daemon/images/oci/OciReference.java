package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.errors.InvalidRequestException;
import java.util.regex.Pattern;

/**
 * A fully qualified image reference: {@code registry/repository[:tag][@sha256:HEX]}. A reference without a registry
 * host means Docker Hub ({@code docker.io}, with {@code library/} for one-component names), as the docker CLI reads it;
 * qualifying here keeps the library from searching registries a host-wide {@code registries.conf} lists.
 *
 * @param tag {@code latest} when neither a tag nor a digest is given; empty when only a digest is
 * @param digest {@code sha256:HEX} or empty
 */
public record OciReference(String registry, String repository, String tag, String digest) {

    public static final String DOCKER_HUB = "docker.io";
    private static final int MAX_REFERENCE_CHARS = 512;
    // The distribution spec's grammar: lowercase path components separated by '/', tag and digest optional.
    private static final Pattern COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\\[[0-9a-fA-F:]+\\](?::[0-9]{1,5})?");

    public static OciReference parse(String text) {
        if (text == null || text.isBlank() || text.length() > MAX_REFERENCE_CHARS) {
            throw invalid(text, "an image reference is 1 to " + MAX_REFERENCE_CHARS + " characters");
        }
        String rest = text;
        String digest = "";
        int at = rest.indexOf('@');
        if (at >= 0) {
            digest = rest.substring(at + 1);
            rest = rest.substring(0, at);
            if (!DIGEST.matcher(digest).matches()) {
                throw invalid(text, "the digest must be sha256: and 64 lowercase hex digits");
            }
        }
        String tag = "";
        int slash = rest.lastIndexOf('/');
        int colon = rest.lastIndexOf(':');
        if (colon > slash) {
            tag = rest.substring(colon + 1);
            rest = rest.substring(0, colon);
            if (!TAG.matcher(tag).matches()) {
                throw invalid(text, "'" + tag + "' is not a valid tag");
            }
        }
        String registry = DOCKER_HUB;
        String path = rest;
        int firstSlash = rest.indexOf('/');
        if (firstSlash > 0) {
            String first = rest.substring(0, firstSlash);
            if (first.contains(".") || first.contains(":") || first.equals("localhost") || first.startsWith("[")) {
                registry = first;
                path = rest.substring(firstSlash + 1);
                if (!HOST.matcher(registry).matches()) {
                    throw invalid(text, "'" + registry + "' is not a registry host");
                }
            }
        }
        if (registry.equals(DOCKER_HUB) && !path.contains("/")) {
            path = "library/" + path;
        }
        for (String component : path.split("/", -1)) {
            if (!COMPONENT.matcher(component).matches()) {
                throw invalid(text, "repository component '" + component + "' must be lowercase letters, digits and "
                        + "single separators");
            }
        }
        if (tag.isEmpty() && digest.isEmpty()) {
            tag = "latest";
        }
        return new OciReference(registry, path, tag, digest);
    }

    /** {@code registry/repository}: what a teleport may move between digests of. */
    public String repositoryName() {
        return registry + "/" + repository;
    }

    /** The digest if given, else the tag: what the registry's manifest endpoint is asked for. */
    public String manifestKey() {
        return digest.isEmpty() ? tag : digest;
    }

    /** This repository at a digest. */
    public OciReference at(String manifestDigest) {
        return new OciReference(registry, repository, "", manifestDigest);
    }

    @Override
    public String toString() {
        return repositoryName() + (tag.isEmpty() ? "" : ":" + tag) + (digest.isEmpty() ? "" : "@" + digest);
    }

    private static InvalidRequestException invalid(String text, String why) {
        return new InvalidRequestException("'" + text + "' is not an image reference: " + why
                + " (expected [registry/]repository[:tag][@sha256:digest])");
    }
}
