package dev.kelpie.daemon.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The daemon's own settings ({@code kelpie.*}). Defaults for paths depend on who runs the daemon and come
 * from {@link DefaultPathsConfigSource}; everything can be overridden by system properties or environment
 * variables ({@code KELPIE_STATE_DIR}, {@code KELPIE_API_SOCKET}, …).
 */
@ConfigMapping(prefix = "kelpie")
public interface KelpieConfig {

    /** Directory holding all of the daemon's state; one daemon at a time holds its lock. */
    Path stateDir();

    /** The gRPC API. */
    Api api();

    /**
     * Which hypervisor backend runs new sandboxes: {@code auto} (libkrun when its probe passes, else QEMU),
     * {@code libkrun} or {@code qemu}. {@code kelpied --backend=NAME} sets it.
     */
    @WithDefault("auto")
    String backend();

    /** The QEMU backend. */
    Qemu qemu();

    /** The libkrun backend. */
    Libkrun libkrun();

    /** Accelerator probing. */
    Probe probe();

    /** Base images. */
    Images images();

    /** Sandboxes: defaults, limits and timeouts. */
    Sandboxes sandboxes();

    /** Teleport: where Snapshot writes packages and Restore reads them. */
    Teleport teleport();

    /** The daemon's Prometheus metrics. */
    Metrics metrics();

    interface Metrics {
        /**
         * Also export each sandbox's resource use as {@code kelpie_sandbox_*{sandbox="ID"}}: off by default, since
         * every sandbox adds a dozen series and a busy host's sandbox ids never repeat.
         */
        @WithDefault("false")
        boolean perSandbox();
    }

    interface Teleport {
        /**
         * Store used when a request names none. {@code local} is always there: {@code STATE_DIR/packages} unless
         * {@code stores.local.path} says otherwise.
         */
        @WithDefault("local")
        String defaultStore();

        /** Package stores by name. */
        Map<String, PackageStoreConfig> stores();

        /**
         * The largest package Import and a copy between stores take, in bytes (the sum of its blobs as stored); larger
         * ones are refused before anything is written. Default 64 GiB.
         */
        @WithDefault("68719476736")
        long maxPackageBytes();
    }

    interface PackageStoreConfig {
        /** {@code local} (a directory) or {@code s3} (an S3-compatible bucket). */
        String type();

        /** local: the directory. */
        Optional<Path> path();

        /** s3: bucket. */
        Optional<String> bucket();

        /** s3: key prefix inside the bucket. */
        @WithDefault("packages")
        String prefix();

        /** s3: endpoint of an S3-compatible server; default AWS. */
        Optional<URI> endpoint();

        /** s3: region. */
        @WithDefault("us-east-1")
        String region();

        /** s3: path-style addressing (MinIO, s3proxy and most self-hosted servers need it). */
        @WithDefault("false")
        boolean pathStyle();

        /** s3: access key id; the SDK's default credential chain when absent. */
        Optional<String> accessKeyId();

        /** s3: secret access key. */
        Optional<String> secretAccessKey();

        /**
         * A file with 32 random bytes in base64: packages in this store are sealed with it (AES-256-GCM), so only
         * daemons holding the same key can read them or make ones they accept.
         */
        Optional<Path> sealKeyFile();
    }

    interface Images {
        /** The image cache; default {@code STATE_DIR/images}. */
        Optional<Path> cacheDir();

        /**
         * Directories of images as image-build writes them ({@code DIR/VERSION/ARCH/}), or single image directories,
         * served in place beside the cache (a developer's fresh build); none by default.
         */
        Optional<List<Path>> dirs();

        /** Whether Create pulls an image version that is not cached before booting it. */
        @WithDefault("true")
        boolean pullOnCreate();

        /** How long Create waits for such a pull. */
        @WithDefault("30m")
        Duration pullTimeout();

        /** A download that receives nothing for this long is abandoned (and resumed by the next pull). */
        @WithDefault("30s")
        Duration stallTimeout();

        /**
         * minisign public keys trusted to sign releases' SHA256SUMS: each the key's base64 line or the path of a
         * {@code .pub} file. Default: the project's release key.
         */
        Optional<List<String>> trustedKeys();

        /** Names of {@link #sources()} in the order they are tried; default their names in alphabetical order. */
        Optional<List<String>> sourceOrder();

        /** Where images are pulled from, by name ({@code kelpie.images.sources.NAME.type=github|s3|local}). */
        Map<String, Source> sources();

        /** OCI images from registries (ADR 0030). */
        Oci oci();
    }

    /** How the daemon pulls OCI images and builds their roots. */
    interface Oci {
        /** Registry hosts ({@code host[:port]}) spoken to in plain HTTP; every other registry needs HTTPS. */
        Optional<List<String>> insecureRegistries();

        /** Basic credentials per registry host ({@code kelpie.images.oci.credentials."HOST".username/password}). */
        Map<String, RegistryCredentials> credentials();

        /** A Docker-style {@code config.json} whose {@code auths} give credentials for hosts not configured above. */
        Optional<Path> dockerConfig();

        /** PEM files of CAs trusted for registries beside the system's trust store. */
        Optional<List<Path>> caFiles();

        /** The largest root an OCI image may unpack to; checked while unpacking. Default 8 GiB. */
        @WithDefault("8589934592")
        long maxRootBytes();
    }

    /** A user name and password (or token) for one registry. */
    interface RegistryCredentials {
        String username();

        String password();
    }

    /** One place images are pulled from. */
    interface Source {
        /** {@code github}, {@code s3} or {@code local}. */
        String type();

        /** github: the repository, {@code owner/name}. */
        Optional<String> repo();

        /** github: the API's base URL (GitHub Enterprise: {@code https://HOST/api/v3}). */
        @WithDefault("https://api.github.com")
        URI apiUrl();

        /** github: a token, for private repositories and a higher rate limit. */
        Optional<String> token();

        /** github: release tags are this prefix and the version. */
        @WithDefault("v")
        String tagPrefix();

        /** s3: the bucket. */
        Optional<String> bucket();

        /** s3: key prefix under which releases sit as {@code PREFIX/VERSION/FILE}. */
        Optional<String> prefix();

        /** s3: endpoint of an S3-compatible server; default AWS. */
        Optional<URI> endpoint();

        /** s3: region. */
        @WithDefault("us-east-1")
        String region();

        /** s3: path-style addressing, which most S3-compatible servers need. */
        @WithDefault("false")
        boolean pathStyle();

        /** s3: access key; default the AWS SDK's credential chain. */
        Optional<String> accessKeyId();

        /** s3: secret key for {@link #accessKeyId()}. */
        Optional<String> secretAccessKey();

        /** local: a directory of releases or image-build output, or an archive with SHA256SUMS beside it. */
        Optional<Path> path();

        /** Accept releases without a valid signature from this source (a local test source, never a shared one). */
        @WithDefault("false")
        boolean allowUnsigned();
    }

    interface Sandboxes {
        /** vCPUs of a sandbox that asks for none. */
        @WithDefault("1")
        int defaultVcpuCount();

        /** Guest memory of a sandbox that asks for none. */
        @WithDefault("256")
        int defaultMemoryMib();

        /** Most sandboxes at once. */
        @WithDefault("16")
        int maxSandboxes();

        /** Guest memory of all sandboxes together; default three quarters of the host's memory. */
        Optional<Long> memoryBudgetMib();

        /** Largest vCPU count of one sandbox; default the host's CPU count. */
        Optional<Integer> maxVcpuCount();

        /** Largest guest memory of one sandbox. */
        @WithDefault("16384")
        int maxMemoryMib();

        /** Largest writable disk of one sandbox. */
        @WithDefault("65536")
        long maxDiskSizeMib();

        /** How long a booting VM's agent may take to answer (TCG on a loaded host is slow). */
        @WithDefault("120s")
        Duration agentReadyTimeout();

        /** How long a VMM gets to quit before it is killed. */
        @WithDefault("5s")
        Duration stopGrace();

        /** VMs booting at once. */
        @WithDefault("2")
        int maxConcurrentBoots();

        /** Guest memory kept from the sandbox's processes for the guest kernel and the agent. */
        @WithDefault("64")
        int guestReservedMib();

        /** Most processes a sandbox's commands may have at once. */
        @WithDefault("1024")
        int pidsLimit();

        /**
         * Warm VMs of the default shape on the newest image, booted ahead so that Create only configures one; 0 turns
         * the pool off. A VM serves one sandbox and is never reused.
         */
        @WithDefault("0")
        int warmPoolSize();

        /**
         * Guest architecture ({@code x86_64} or {@code aarch64}) of a sandbox that asks for none, and of restored
         * checkpoints; default the host's. The other architecture runs emulated (QEMU TCG).
         */
        Optional<String> defaultArch();

        /** Guest architecture of the warm pool's VMs; default {@link #defaultArch()}. */
        Optional<String> warmPoolArch();

        /**
         * An OCI image reference whose root the warm pool's VMs boot (pulled at start when absent); unset: the base
         * image's own root. The pool serves Creates whose spec.oci_image resolves to the same manifest digest.
         */
        Optional<String> warmPoolOciImage();

        /** How often expired and idle sandboxes are looked for. */
        @WithDefault("5s")
        Duration reapInterval();
    }

    interface Api {
        /** Unix socket the API listens on (the path must be shorter than 104 bytes, macOS's limit). */
        Path socket();

        /**
         * Unix socket of the Prometheus metrics endpoint ({@code GET /q/metrics}); default {@code <name>-metrics.sock}
         * beside {@link #socket()}.
         */
        Optional<Path> metricsSocket();

        /** TCP listener; off by default. */
        Tcp tcp();

        /** TLS for the TCP listener; required off loopback. */
        Tls tls();

        /** A file holding the bearer token TCP clients may present over TLS instead of a client certificate. */
        Optional<Path> tokenFile();

        /**
         * How long an upload (Import, WriteFile) may wait for its client's next message before it is ended
         * (DEADLINE_EXCEEDED) and what it staged is freed.
         */
        @WithDefault("60s")
        Duration uploadIdleTimeout();
    }

    interface Tcp {
        /** Also listen on TCP. */
        @WithDefault("false")
        boolean enabled();

        /** Address to listen on; anything but loopback requires TLS and client authentication. */
        @WithDefault("127.0.0.1")
        String host();

        /** gRPC port on {@link #host()}. */
        @WithDefault("7411")
        int port();

        /** Port of the Prometheus metrics endpoint on {@link #host()}, under the same TLS and access rules. */
        @WithDefault("7412")
        int metricsPort();
    }

    interface Tls {
        /** The server's certificate chain (PEM). Turns TLS on for TCP; plaintext TCP is then refused. */
        Optional<Path> cert();

        /** The server's private key (PEM, PKCS#8). */
        Optional<Path> key();

        /** CA certificates (PEM) whose client certificates authenticate a TCP client (mutual TLS). */
        Optional<Path> clientCa();
    }

    interface Qemu {
        /** qemu-system binary; default {@code qemu-system-<host arch>} from PATH. */
        Optional<String> binary();

        /** Accelerator for sandbox VMs ({@code kvm}, {@code hvf}, {@code tcg}); default the best one the probe proved. */
        Optional<String> accelerator();

        /**
         * Where guest RAM lives as files (one per VM, and frozen snapshots that forks map); default a directory of
         * this daemon's own in {@code /dev/shm} on Linux, {@code <state-dir>/ram} elsewhere. A tmpfs keeps guest
         * memory off the disk; it must have room for every VM's memory.
         */
        Optional<Path> ramDir();
    }

    interface Libkrun {
        /** libkrun library name or path; default {@code libkrun.so.1} (Linux) or {@code libkrun.1.dylib} (macOS). */
        Optional<String> library();

        /**
         * Directories searched first for libkrun and libkrunfw by each VM runner's loader; default none on Linux and
         * {@code /opt/homebrew/lib,/usr/local/lib} on macOS (Homebrew's, which dyld does not search by itself).
         */
        Optional<List<Path>> libraryPath();

        /**
         * A native VM runner binary (built with GraalVM, codesigned with the hypervisor entitlement on macOS); default
         * the runner's Java main on the daemon's own JDK.
         */
        Optional<Path> runner();

        /** libkrun's log level in each VM's runner.log: 0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace. */
        @WithDefault("2")
        int logLevel();
    }

    interface Probe {
        /**
         * A guest kernel to boot when probing accelerators. A device node that opens proves nothing (on some hosts
         * /dev/kvm opens yet Linux guests hang), so an accelerator counts as available only after it booted a kernel.
         */
        Optional<Path> kernel();

        /** How long a probe boot may take before the accelerator is declared unusable. */
        @WithDefault("20s")
        Duration bootTimeout();

        /**
         * Where probe verdicts are kept for every daemon of this host until it reboots; default {@code /var/cache/kelpie}
         * for root, else {@code $XDG_CACHE_HOME/kelpie} or {@code ~/.cache/kelpie}.
         */
        Path cacheDir();
    }
}
