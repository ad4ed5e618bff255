package dev.kelpie.runner;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * libkrun 1.x loaded through the FFM API. Every symbol is looked up as optional: releases and build features (BLK,
 * NET) differ in what they export, so a missing function is a fact to degrade on, not a load failure. Only a missing
 * {@linkplain KrunFunction.Need#REQUIRED required} function, or no block devices, makes the library unusable.
 */
public final class Libkrun {

    /** {@code KRUN_FEATURE_BLK}. */
    static final long FEATURE_BLK = 1;

    private final String library;
    private final Map<KrunFunction, MethodHandle> handles;

    private Libkrun(String library, Map<KrunFunction, MethodHandle> handles) {
        this.library = library;
        this.handles = handles;
    }

    /** The platform's default file name of the 1.x library: the ABI major is part of it. */
    public static String defaultLibrary(boolean macOs) {
        return macOs ? "libkrun.1.dylib" : "libkrun.so.1";
    }

    /**
     * Loads {@code library} (a path, or a name the system's loader searches) into {@code arena}: it stays mapped until
     * the arena closes.
     *
     * @throws LibkrunUnavailableException when it cannot be loaded, naming what to install or configure
     */
    public static Libkrun load(String library, Arena arena) {
        SymbolLookup lookup;
        try {
            lookup = SymbolLookup.libraryLookup(library, arena);
        } catch (IllegalArgumentException e) {
            throw new LibkrunUnavailableException(library + " cannot be loaded (install libkrun 1.x with libkrunfw, or set"
                    + " kelpie.libkrun.library to its path): " + e.getMessage());
        }
        Linker linker = Linker.nativeLinker();
        Map<KrunFunction, MethodHandle> handles = new EnumMap<>(KrunFunction.class);
        for (KrunFunction f : KrunFunction.values()) {
            Optional<MemorySegment> symbol = lookup.find(f.symbol());
            symbol.ifPresent(address -> handles.put(f, linker.downcallHandle(address, f.descriptor())));
        }
        return new Libkrun(library, handles);
    }

    public String library() {
        return library;
    }

    public boolean has(KrunFunction f) {
        return handles.containsKey(f);
    }

    /** Required functions this library lacks; a VM can be started only when this is empty. */
    public List<KrunFunction> missingRequired() {
        Stream<KrunFunction> missing = Stream.of(KrunFunction.values()).filter(f -> f.need() == KrunFunction.Need.REQUIRED && !has(f));
        Stream<KrunFunction> noDisk = has(KrunFunction.ADD_DISK) || has(KrunFunction.ADD_DISK2)
                ? Stream.empty() : Stream.of(KrunFunction.ADD_DISK2);
        return Stream.concat(missing, noDisk).toList();
    }

    /** Functions this library lacks that the runner works around: what a probe reports as degraded. */
    public List<KrunFunction> missingFallbacks() {
        return Stream.of(KrunFunction.values()).filter(f -> f.need() == KrunFunction.Need.FALLBACK && !has(f)).toList();
    }

    /**
     * Whether VMs can have block devices: {@code krun_has_feature(BLK)} where the library has it (1.17.3+), else the
     * presence of the disk functions (a build without BLK=1 lacks them).
     */
    public boolean supportsBlockDevices() {
        if (has(KrunFunction.HAS_FEATURE)) {
            return call(KrunFunction.HAS_FEATURE, FEATURE_BLK) == 1;
        }
        return has(KrunFunction.ADD_DISK2) || has(KrunFunction.ADD_DISK);
    }

    /** One line naming what is missing, e.g. for a probe report; empty when nothing required is. */
    public Optional<String> describeMissingRequired() {
        List<KrunFunction> missing = missingRequired();
        if (missing.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(library + " lacks " + String.join(", ", missing.stream()
                .map(f -> f.symbol() + " (libkrun " + f.since() + "+)").toList()));
    }

    /**
     * Calls {@code f} with arguments of the Java types its descriptor names (int, byte, long, boolean,
     * MemorySegment) and returns libkrun's result: 0 or more on success, {@code -errno} on failure.
     *
     * @throws IllegalStateException when the library lacks {@code f}; callers check {@link #has} first
     */
    public int call(KrunFunction f, Object... args) {
        MethodHandle handle = handles.get(f);
        if (handle == null) {
            throw new IllegalStateException(library + " has no " + f.symbol());
        }
        try {
            return (int) handle.invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(f.symbol() + " threw " + e, e);
        }
    }
}
