package dev.kelpie.daemon.images.pull;

/** What every configured source has: the name it was configured under and whether it must be signed. */
abstract class NamedSource implements ReleaseSource {

    private final String name;
    private final boolean requiresSignature;

    NamedSource(String name, boolean requiresSignature) {
        this.name = name;
        this.requiresSignature = requiresSignature;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final boolean requiresSignature() {
        return requiresSignature;
    }
}
