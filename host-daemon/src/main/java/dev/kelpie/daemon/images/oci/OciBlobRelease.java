package dev.kelpie.daemon.images.oci;

import dev.kelpie.daemon.images.pull.Release;
import java.io.IOException;
import java.io.InputStream;
import java.util.OptionalLong;

/** One blob of a repository as the resumable download reads files: the digest is the file name. */
record OciBlobRelease(OciRegistryClient client, OciReference reference, OciDescriptor blob) implements Release {

    @Override
    public String location() {
        return client.location(reference);
    }

    @Override
    public OptionalLong size(String fileName) {
        return OptionalLong.of(blob.sizeBytes());
    }

    @Override
    public InputStream open(String fileName, long offsetBytes) throws IOException {
        return client.openBlob(reference, blob.digest(), offsetBytes);
    }
}
