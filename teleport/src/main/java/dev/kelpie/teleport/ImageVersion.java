package dev.kelpie.teleport;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A base image version, {@code MAJOR.MINOR.PATCH[-suffix]}; releases use the suffix {@code YYYYMMDD-gitsha7}
 * (e.g. {@code 1.0.0-20260115-a3f4d21}), dev builds any suffix of {@code [0-9A-Za-z.-]}.
 *
 * <p>The grammar is read from {@code image-build/version.regex}, the same file the image build script
 * validates {@code --version} with, so the two can never disagree.
 */
public record ImageVersion(int major, int minor, int patch, String suffix) implements Comparable<ImageVersion> {

    private static final Pattern GRAMMAR = loadGrammar();
    private static final int MAX_ECHOED_CHARS = 80;

    public ImageVersion {
        if (major < 0 || minor < 0 || patch < 0) {
            throw new IllegalArgumentException("version numbers must not be negative");
        }
        suffix = suffix == null ? "" : suffix;
    }

    /**
     * Parses a version string.
     *
     * @throws InvalidImageVersionException if the text does not follow the grammar, naming the text and the grammar
     */
    public static ImageVersion parse(String text) {
        if (text == null || text.isEmpty()) {
            throw new InvalidImageVersionException("image version is empty; expected MAJOR.MINOR.PATCH[-suffix]");
        }
        Matcher m = GRAMMAR.matcher(text);
        if (!m.matches()) {
            throw new InvalidImageVersionException("image version '" + abbreviate(text)
                    + "' is not MAJOR.MINOR.PATCH[-suffix] (grammar " + GRAMMAR.pattern() + ")");
        }
        try {
            String suffix = m.group(4) == null ? "" : m.group(4).substring(1);
            return new ImageVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                    Integer.parseInt(m.group(3)), suffix);
        } catch (NumberFormatException e) {
            throw new InvalidImageVersionException("image version '" + abbreviate(text) + "' has a number out of range");
        }
    }

    /** Enough of a rejected text to recognise it; a message must not carry whatever size a caller sent. */
    private static String abbreviate(String text) {
        return text.length() <= MAX_ECHOED_CHARS ? text
                : text.substring(0, MAX_ECHOED_CHARS) + "… (" + text.length() + " characters)";
    }

    /** Whether a sandbox made on {@code this} image may be restored on {@code target}, for a checkpoint package. */
    public Compatibility checkpointCompatibilityWith(ImageVersion target) {
        Objects.requireNonNull(target, "target");
        if (major != target.major || minor != target.minor) {
            return Compatibility.INCOMPATIBLE;
        }
        return patch == target.patch ? Compatibility.SAME_RELEASE : Compatibility.PATCH_DIFFERS;
    }

    /** MAJOR.MINOR.PATCH without the suffix. */
    public String release() {
        return major + "." + minor + "." + patch;
    }

    @Override
    public int compareTo(ImageVersion o) {
        int c = Integer.compare(major, o.major);
        if (c == 0) c = Integer.compare(minor, o.minor);
        if (c == 0) c = Integer.compare(patch, o.patch);
        // Release suffixes start with the build date, so text order is build order.
        if (c == 0) c = suffix.compareTo(o.suffix);
        return c;
    }

    @Override
    public String toString() {
        return suffix.isEmpty() ? release() : release() + "-" + suffix;
    }

    /** How two image versions relate for a checkpoint restore. */
    public enum Compatibility {
        /** Same MAJOR.MINOR.PATCH: restore silently. */
        SAME_RELEASE,
        /** Same MAJOR.MINOR, other PATCH: restore with a warning. */
        PATCH_DIFFERS,
        /** MAJOR or MINOR differ: reject. */
        INCOMPATIBLE
    }

    private static Pattern loadGrammar() {
        try (InputStream in = ImageVersion.class.getResourceAsStream("version.regex")) {
            if (in == null) {
                throw new IllegalStateException("version.regex missing from the teleport jar (built from image-build/)");
            }
            return Pattern.compile(new String(in.readAllBytes(), StandardCharsets.US_ASCII).strip());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
