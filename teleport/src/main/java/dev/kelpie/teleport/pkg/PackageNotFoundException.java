package dev.kelpie.teleport.pkg;

/** No package of that id in that store. */
public final class PackageNotFoundException extends RuntimeException {

    public PackageNotFoundException(String id, String storeName) {
        super("package " + id + " not found in store " + storeName);
    }
}
