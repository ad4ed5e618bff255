package dev.kelpie.teleport.store;

import java.util.regex.Pattern;

/**
 * Package ids and blob names become path segments and object keys, so both are checked before any store sees them:
 * lowercase letters, digits, dashes and underscores (blob names also dots), starting with a letter or digit.
 */
public final class PackageIds {

    private static final Pattern ID = Pattern.compile("[a-z0-9][a-z0-9_-]{0,63}");
    private static final Pattern BLOB_NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,99}");

    private PackageIds() {}

    /** @throws IllegalArgumentException naming the bad id */
    public static String checkId(String id) {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("package id \"" + abbreviate(id)
                    + "\" is not valid: 1-64 of a-z, 0-9, '-', '_', starting with a letter or digit");
        }
        return id;
    }

    /** @throws IllegalArgumentException naming the bad blob name */
    public static String checkBlobName(String name) {
        if (name == null || !BLOB_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("blob name \"" + abbreviate(name)
                    + "\" is not valid: 1-100 of a-z, 0-9, '.', '-', '_', starting with a letter or digit");
        }
        return name;
    }

    private static String abbreviate(String text) {
        if (text == null) {
            return "(none)";
        }
        return text.length() <= 80 ? text : text.substring(0, 77) + "...";
    }
}
