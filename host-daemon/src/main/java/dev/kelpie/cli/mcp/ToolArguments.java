package dev.kelpie.cli.mcp;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * A tool call's arguments as the JSON decoder left them (strings, numbers, booleans, lists, maps), read with the
 * types the tool's schema promises. Every mismatch is an INVALID_ARGUMENT naming the argument, so a model that got
 * one wrong learns which and how.
 */
final class ToolArguments {

    private final Map<String, Object> values;

    ToolArguments(Map<String, Object> values) {
        this.values = values == null ? Map.of() : values;
    }

    /** Refuses arguments the tool does not take: a misspelt option would otherwise be silently ignored. */
    ToolArguments allowOnly(Set<String> names) {
        Set<String> unknown = new TreeSet<>(values.keySet());
        unknown.removeAll(names);
        if (!unknown.isEmpty()) {
            throw ToolError.invalid("unknown argument(s) " + unknown + "; this tool takes " + new TreeSet<>(names));
        }
        return this;
    }

    String requiredString(String name) {
        return optionalString(name).filter(s -> !s.isBlank())
                .orElseThrow(() -> ToolError.invalid("'" + name + "' is required (a non-empty string)"));
    }

    Optional<String> optionalString(String name) {
        Object v = values.get(name);
        if (v == null) {
            return Optional.empty();
        }
        if (v instanceof String s) {
            return Optional.of(s);
        }
        throw ToolError.invalid("'" + name + "' must be a string, not " + describe(v));
    }

    /** An integer within [min, max]; JSON numbers arrive as Integer, Long or Double (2.0 counts as 2). */
    Optional<Long> optionalLong(String name, long min, long max) {
        Object v = values.get(name);
        if (v == null) {
            return Optional.empty();
        }
        long n;
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            n = ((Number) v).longValue();
        } else if (v instanceof Number d && d.doubleValue() == Math.rint(d.doubleValue())
                && Math.abs(d.doubleValue()) < 0x1p53) {
            n = (long) d.doubleValue();
        } else {
            throw ToolError.invalid("'" + name + "' must be an integer, not " + describe(v));
        }
        if (n < min || n > max) {
            throw ToolError.invalid("'" + name + "' must be between " + min + " and " + max + ", not " + n);
        }
        return Optional.of(n);
    }

    boolean flag(String name) {
        Object v = values.get(name);
        if (v == null) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw ToolError.invalid("'" + name + "' must be true or false, not " + describe(v));
    }

    List<String> stringList(String name) {
        Object v = values.get(name);
        if (v == null) {
            return List.of();
        }
        if (!(v instanceof List<?> list)) {
            throw ToolError.invalid("'" + name + "' must be an array of strings, not " + describe(v));
        }
        List<String> out = new ArrayList<>(list.size());
        for (Object item : list) {
            if (!(item instanceof String s)) {
                throw ToolError.invalid("'" + name + "' must hold only strings, not " + describe(item));
            }
            out.add(s);
        }
        return out;
    }

    Map<String, String> stringMap(String name) {
        Object v = values.get(name);
        if (v == null) {
            return Map.of();
        }
        if (!(v instanceof Map<?, ?> map)) {
            throw ToolError.invalid("'" + name + "' must be an object of string values, not " + describe(v));
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (var e : map.entrySet()) {
            if (!(e.getValue() instanceof String s)) {
                throw ToolError.invalid("'" + name + "." + e.getKey() + "' must be a string, not " + describe(e.getValue()));
            }
            out.put(String.valueOf(e.getKey()), s);
        }
        return out;
    }

    /** One of the given words, case-sensitive, as the schema's enum lists them. */
    Optional<String> optionalChoice(String name, Set<String> choices) {
        Optional<String> v = optionalString(name);
        if (v.isPresent() && !choices.contains(v.get())) {
            throw ToolError.invalid("'" + name + "' must be one of " + new TreeSet<>(choices) + ", not '" + v.get() + "'");
        }
        return v;
    }

    private static String describe(Object v) {
        String type = switch (v) {
            case String s -> "a string";
            case Boolean b -> "a boolean";
            case Number n -> "a number";
            case List<?> l -> "an array";
            case Map<?, ?> m -> "an object";
            default -> v.getClass().getSimpleName();
        };
        return type + " (" + String.valueOf(v).lines().findFirst().orElse("") + ")";
    }
}
