package dev.kelpie.daemon.teleport;

import dev.kelpie.daemon.errors.InvalidRequestException;
import dev.kelpie.teleport.store.PackageStore;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The configured package stores by name, and which one serves a request that names none. Stores are opened by
 * {@link #open()} once the daemon's state directory has passed its preflight, so a bad state directory is reported as
 * such and not as a store that cannot be created in it.
 */
public final class PackageStores {

    /** Opens one store (creating its directory, collecting what a crash left). */
    @FunctionalInterface
    public interface Opener {
        PackageStore open() throws IOException;
    }

    private final Map<String, Opener> openers;
    private final String defaultName;
    private volatile Map<String, PackageStore> opened;

    public PackageStores(Map<String, Opener> openers, String defaultName) {
        this.openers = new TreeMap<>(openers);
        if (!this.openers.containsKey(defaultName)) {
            throw new IllegalArgumentException("the default package store \"" + defaultName + "\" is not configured;"
                    + " stores: " + this.openers.keySet());
        }
        this.defaultName = defaultName;
    }

    /** Stores that are open already. */
    public static PackageStores of(List<PackageStore> stores, String defaultName) {
        Map<String, Opener> openers = new LinkedHashMap<>();
        stores.forEach(s -> openers.put(s.name(), () -> s));
        PackageStores result = new PackageStores(openers, defaultName);
        try {
            result.open();
        } catch (IOException e) {
            throw new IllegalStateException("an open store failed to open", e);
        }
        return result;
    }

    public synchronized void open() throws IOException {
        Map<String, PackageStore> stores = new TreeMap<>();
        for (Map.Entry<String, Opener> e : openers.entrySet()) {
            stores.put(e.getKey(), e.getValue().open());
        }
        opened = stores;
    }

    /**
     * @param name empty for the default store
     * @throws dev.kelpie.daemon.errors.InvalidRequestException naming the configured stores when there is no such store
     */
    public PackageStore get(String name) {
        Map<String, PackageStore> stores = opened;
        if (stores == null) {
            throw new IllegalStateException("package stores are not open yet");
        }
        String wanted = name == null || name.isEmpty() ? defaultName : name;
        PackageStore store = stores.get(wanted);
        if (store == null) {
            throw new InvalidRequestException("no package store named \"" + abbreviate(wanted) + "\"; configured: "
                    + String.join(", ", stores.keySet()));
        }
        return store;
    }

    /** Every configured store, by name. */
    public List<PackageStore> all() {
        Map<String, PackageStore> stores = opened;
        if (stores == null) {
            throw new IllegalStateException("package stores are not open yet");
        }
        return List.copyOf(stores.values());
    }

    public String defaultName() {
        return defaultName;
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
