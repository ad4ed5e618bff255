package dev.kelpie.teleport.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * AES-256-GCM sealing of packages in shared stores. A manifest is sealed whole (GCM's tag is its signature: only a
 * holder of the key can make one that opens). A blob is sealed in chunks of {@value #CHUNK_BYTES} bytes so neither
 * side holds a whole blob in memory; each chunk's nonce is the blob's random nonce plus the chunk's index, and its
 * additional data names the package, the blob, the index and whether it is the last chunk — so chunks cannot be
 * reordered, moved between blobs or packages, dropped from the end, or added after it.
 */
final class Seal {

    static final int CHUNK_BYTES = 1024 * 1024;
    private static final byte[] BLOB_MAGIC = "KLPSEAL1".getBytes(StandardCharsets.US_ASCII);
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    private static final int TAG_BYTES = TAG_BITS / 8;
    private static final int KEY_ID_BYTES = 16;

    private final SealKey key;
    private final SecureRandom random = new SecureRandom();
    private final ObjectMapper json = new ObjectMapper();

    Seal(SealKey key) {
        this.key = key;
    }

    byte[] sealManifest(byte[] manifest, String id) throws IOException {
        byte[] nonce = new byte[NONCE_BYTES];
        random.nextBytes(nonce);
        byte[] sealed = crypt(Cipher.ENCRYPT_MODE, nonce, manifestAad(id), manifest);
        ObjectNode seal = json.createObjectNode();
        seal.putObject("sealed").put("alg", "AES-256-GCM").put("key_id", key.id())
                .put("nonce", Base64.getEncoder().encodeToString(nonce))
                .put("ciphertext", Base64.getEncoder().encodeToString(sealed));
        return json.writeValueAsBytes(seal);
    }

    byte[] openManifest(byte[] stored, String id) throws SealBrokenException {
        JsonNode seal;
        try {
            seal = json.readTree(stored).path("sealed");
        } catch (IOException e) {
            throw new SealBrokenException("package " + id + ": its manifest is not a sealed manifest", e);
        }
        if (!seal.isObject()) {
            throw new SealBrokenException("package " + id + " is not sealed, but this store seals every package");
        }
        checkKeyId(seal.path("key_id").asText(""), id);
        try {
            byte[] nonce = Base64.getDecoder().decode(seal.path("nonce").asText(""));
            byte[] ciphertext = Base64.getDecoder().decode(seal.path("ciphertext").asText(""));
            if (nonce.length != NONCE_BYTES) {
                throw new SealBrokenException("package " + id + ": sealed manifest has a bad nonce");
            }
            return crypt(Cipher.DECRYPT_MODE, nonce, manifestAad(id), ciphertext);
        } catch (IllegalArgumentException e) {
            throw new SealBrokenException("package " + id + ": sealed manifest is not base64", e);
        } catch (IOException e) {
            throw new SealBrokenException("package " + id + ": the manifest's seal does not open (altered, or not"
                    + " sealed by this store's key)", e);
        }
    }

    private void checkKeyId(String found, String id) throws SealBrokenException {
        if (!found.equals(key.id())) {
            throw new SealBrokenException("package " + id + " is sealed under key " + abbreviate(found)
                    + "; this store's key is " + key.id());
        }
    }

    /** Seals {@code plain} (read to its end) into {@code out}. */
    void sealBlob(InputStream plain, OutputStream out, String id, String name) throws IOException {
        byte[] nonce = new byte[NONCE_BYTES];
        random.nextBytes(nonce);
        out.write(BLOB_MAGIC);
        out.write(key.id().getBytes(StandardCharsets.US_ASCII));
        out.write(nonce);
        byte[] current = plain.readNBytes(CHUNK_BYTES);
        long index = 0;
        while (true) {
            byte[] next = current.length < CHUNK_BYTES ? new byte[0] : plain.readNBytes(CHUNK_BYTES);
            boolean last = next.length == 0;
            byte[] sealed = crypt(Cipher.ENCRYPT_MODE, chunkNonce(nonce, index), blobAad(id, name, index, last), current);
            out.write(ByteBuffer.allocate(Integer.BYTES).putInt(sealed.length).array());
            out.write(sealed);
            if (last) {
                return;
            }
            current = next;
            index++;
        }
    }

    /** The plain bytes of a sealed blob; reading fails with {@link SealBrokenException} at the first bad chunk. */
    InputStream openBlob(InputStream sealed, String id, String name) throws IOException {
        DataInputStream in = new DataInputStream(sealed);
        byte[] header = new byte[BLOB_MAGIC.length + KEY_ID_BYTES + NONCE_BYTES];
        try {
            in.readFully(header);
        } catch (EOFException e) {
            throw new SealBrokenException("package " + id + ": blob " + name + " is too short to be sealed", e);
        }
        if (!Arrays.equals(header, 0, BLOB_MAGIC.length, BLOB_MAGIC, 0, BLOB_MAGIC.length)) {
            throw new SealBrokenException("package " + id + ": blob " + name + " is not sealed");
        }
        checkKeyId(new String(header, BLOB_MAGIC.length, KEY_ID_BYTES, StandardCharsets.US_ASCII), id);
        byte[] nonce = Arrays.copyOfRange(header, header.length - NONCE_BYTES, header.length);
        return new ChunkStream(in, nonce, id, name);
    }

    private final class ChunkStream extends InputStream {
        private final DataInputStream in;
        private final byte[] nonce;
        private final String id;
        private final String name;
        private byte[] chunk = new byte[0];
        private int position;
        private long index;
        private boolean ended;
        private SealBrokenException failure;

        ChunkStream(DataInputStream in, byte[] nonce, String id, String name) {
            this.in = in;
            this.nonce = nonce;
            this.id = id;
            this.name = name;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] bytes, int offset, int length) throws IOException {
            while (position == chunk.length) {
                if (ended) {
                    return -1;
                }
                nextChunk();
            }
            int n = Math.min(length, chunk.length - position);
            System.arraycopy(chunk, position, bytes, offset, n);
            position += n;
            return n;
        }

        private void nextChunk() throws IOException {
            if (failure != null) {
                throw failure;
            }
            try {
                openNextChunk();
            } catch (SealBrokenException e) {
                // The stream's position is lost after a bad chunk: every later read reports the same failure.
                failure = e;
                throw e;
            }
        }

        private void openNextChunk() throws IOException {
            int size;
            byte[] sealed;
            try {
                size = in.readInt();
                if (size < TAG_BYTES || size > CHUNK_BYTES + TAG_BYTES) {
                    throw new SealBrokenException("package " + id + ": blob " + name + " has a chunk of " + size
                            + " bytes");
                }
                sealed = new byte[size];
                in.readFully(sealed);
            } catch (EOFException e) {
                throw new SealBrokenException("package " + id + ": sealed blob " + name + " is truncated", e);
            }
            // A chunk opens under exactly one of the two "last" flags; which one tells whether the blob ends here.
            byte[] plain = tryOpen(sealed, false);
            if (plain == null) {
                plain = tryOpen(sealed, true);
                if (plain == null) {
                    throw new SealBrokenException("package " + id + ": chunk " + index + " of blob " + name
                            + " does not open under this store's key (altered or reordered)");
                }
                ended = true;
                if (in.read() >= 0) {
                    throw new SealBrokenException("package " + id + ": sealed blob " + name
                            + " has bytes after its last chunk");
                }
            }
            chunk = plain;
            position = 0;
            index++;
        }

        private byte[] tryOpen(byte[] sealed, boolean last) {
            try {
                return crypt(Cipher.DECRYPT_MODE, chunkNonce(nonce, index), blobAad(id, name, index, last), sealed);
            } catch (IOException e) {
                return null;
            }
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }

    private byte[] crypt(int mode, byte[] nonce, byte[] aad, byte[] input) throws IOException {
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(mode, key.secret(), new GCMParameterSpec(TAG_BITS, nonce));
            cipher.updateAAD(aad);
            return cipher.doFinal(input);
        } catch (javax.crypto.AEADBadTagException e) {
            throw new SealBrokenException("seal tag mismatch", e);
        } catch (GeneralSecurityException e) {
            throw new IOException("AES-GCM failed: " + e.getMessage(), e);
        }
    }

    private static byte[] chunkNonce(byte[] base, long index) {
        byte[] nonce = base.clone();
        ByteBuffer counter = ByteBuffer.wrap(nonce);
        int at = NONCE_BYTES - Long.BYTES;
        counter.putLong(at, counter.getLong(at) ^ index);
        return nonce;
    }

    private static byte[] manifestAad(String id) {
        return ("kelpie-manifest\0" + id).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] blobAad(String id, String name, long index, boolean last) {
        return ("kelpie-blob\0" + id + "\0" + name + "\0" + index + "\0" + (last ? "last" : "more"))
                .getBytes(StandardCharsets.UTF_8);
    }

    private static String abbreviate(String s) {
        return s.length() <= 32 ? s : s.substring(0, 32) + "...";
    }
}
