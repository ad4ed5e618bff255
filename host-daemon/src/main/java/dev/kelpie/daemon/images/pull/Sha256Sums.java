package dev.kelpie.daemon.images.pull;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A {@code sha256sum} output file: "HEX  NAME" (or "HEX *NAME" in binary mode) per line. */
public final class Sha256Sums {

    private static final Pattern LINE = Pattern.compile("([0-9a-fA-F]{64}) [ *](\\S.*)");

    private final Map<String, String> byName;

    private Sha256Sums(Map<String, String> byName) {
        this.byName = byName;
    }

    /**
     * @throws ImagePullException (DAMAGED) on a line that is not a checksum line
     */
    public static Sha256Sums parse(byte[] text, String where) {
        Map<String, String> byName = new HashMap<>();
        int lineNumber = 0;
        for (String line : new String(text, StandardCharsets.UTF_8).split("\n")) {
            lineNumber++;
            if (line.isBlank()) {
                continue;
            }
            Matcher m = LINE.matcher(line.strip());
            if (!m.matches()) {
                throw new ImagePullException(ImagePullException.Reason.DAMAGED,
                        where + " line " + lineNumber + " is not a sha256sum line: '" + abbreviate(line) + "'");
            }
            byName.put(m.group(2), m.group(1).toLowerCase(java.util.Locale.ROOT));
        }
        return new Sha256Sums(byName);
    }

    public Optional<String> sha256(String fileName) {
        return Optional.ofNullable(byName.get(fileName));
    }

    private static String abbreviate(String line) {
        return line.length() > 80 ? line.substring(0, 80) + "…" : line;
    }
}
