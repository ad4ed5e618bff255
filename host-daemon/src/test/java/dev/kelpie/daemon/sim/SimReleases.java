package dev.kelpie.daemon.sim;

import dev.kelpie.daemon.images.pull.TestReleases;
import dev.kelpie.daemon.images.trust.MinisignPublicKey;
import dev.kelpie.daemon.images.trust.MinisignTestSigner;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Signed image releases for simulated pulls, written once per test class: a base version, a PATCH release (restores
 * warn) and a MINOR release (restores refuse), each small enough to pull in milliseconds.
 */
record SimReleases(Path dir, MinisignPublicKey key) {

    static final String ARCH = "x86_64";
    static final String BASE = "1.2.3";
    static final List<String> VERSIONS = List.of(BASE, "1.2.4", "1.3.0");
    private static final int ROOTFS_BYTES = 32 * 1024;

    static SimReleases write(Path dir) throws IOException {
        MinisignTestSigner signer = MinisignTestSigner.generate();
        TestReleases releases = new TestReleases(signer).rootfsBytes(ROOTFS_BYTES);
        for (String version : VERSIONS) {
            releases.write(dir.resolve(version), version, ARCH);
        }
        return new SimReleases(dir, signer.publicKey());
    }
}
