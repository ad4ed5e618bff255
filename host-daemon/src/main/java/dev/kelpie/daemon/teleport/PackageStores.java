package dev.kelpie.daemon.teleport;

import dev.kelpie.teleport.store.PackageStore;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The configured package stores by name, and which one serves a request that names none. */
public final class PackageStores {

    private final Map<String, PackageStore> byName = new TreeMap<>();
    private final String defaultName;

    public PackageStores(List<PackageStore> stores, String defaultName) {
        stores.forEach(s -> byName.put(s.name(), s));
        if (!byName.containsKey(defaultName)) {
            throw new IllegalArgumentException("the default package store \"" + defaultName + "\" is not configured; stores: "
                    + byName.keySet());
        }
        this.defaultName = defaultName;
    }

    /**
     * @param name empty for the default store
     * @throws IllegalArgumentException naming the configured stores when there is no such store
     */
    public PackageStore get(String name) {
        String wanted = name == null || name.isEmpty() ? defaultName : name;
        PackageStore store = byName.get(wanted);
        if (store == null) {
            throw new IllegalArgumentException("no package store named \"" + abbreviate(wanted) + "\"; configured: "
                    + String.join(", ", byName.keySet()));
        }
        return store;
    }

    public String defaultName() {
        return defaultName;
    }

    public List<PackageStore> all() {
        return List.copyOf(byName.values());
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
