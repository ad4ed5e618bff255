package dev.kelpie.cli;

import java.time.Duration;
import picocli.CommandLine.ITypeConverter;

/** Durations as ISO-8601 ({@code PT1H}) or a number with a unit: {@code 90s}, {@code 15m}, {@code 2h}, {@code 500ms}. */
final class DurationConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
        if (value.startsWith("P") || value.startsWith("p")) {
            return Duration.parse(value);
        }
        var m = java.util.regex.Pattern.compile("(\\d+)(ms|s|m|h)").matcher(value.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + value + "' is not a duration (e.g. 90s, 15m, 2h, PT1H)");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "ms" -> Duration.ofMillis(n);
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            default -> Duration.ofHours(n);
        };
    }
}
