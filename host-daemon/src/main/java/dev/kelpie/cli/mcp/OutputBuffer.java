package dev.kelpie.cli.mcp;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * One stream of a command's output (or a file's bytes) as a model gets it: the first {@code limitBytes} bytes as
 * text, and past that a marker that says plainly that the text was cut, where, and what to do about it. A cut never
 * splits a UTF-8 character; bytes that are not UTF-8 show as U+FFFD.
 */
final class OutputBuffer {

    private final long limitBytes;
    private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
    private long seenBytes;
    private boolean cutUpstream;

    OutputBuffer(long limitBytes) {
        this.limitBytes = limitBytes;
    }

    void append(byte[] data) {
        long room = limitBytes - kept.size();
        if (room > 0) {
            kept.write(data, 0, (int) Math.min(room, data.length));
        }
        seenBytes += data.length;
    }

    /** The sender cut the stream at the limit (the guest's stdout_limit_bytes), so more existed than arrived. */
    void markCutUpstream() {
        cutUpstream = true;
    }

    /** The whole stream's size is known (a file's size): past the limit counts as cut even if never sent. */
    void knownTotal(long totalBytes) {
        seenBytes = Math.max(seenBytes, totalBytes);
    }

    boolean truncated() {
        return cutUpstream || seenBytes > limitBytes;
    }

    long keptBytes() {
        return kept.size();
    }

    byte[] bytes() {
        return kept.toByteArray();
    }

    /** Whether the kept bytes are UTF-8 text (a cut at the end of a character does not count against it). */
    boolean isUtf8() {
        byte[] bytes = kept.toByteArray();
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, 0, completeUtf8Length(bytes)));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    /**
     * The kept bytes as text, followed by the truncation marker when the stream was cut.
     *
     * @param what what was cut, for the marker ("stdout")
     * @param hint what the reader can do to see the rest
     */
    String text(String what, String hint) {
        byte[] bytes = kept.toByteArray();
        int length = textBytes();
        String text = new String(bytes, 0, length, StandardCharsets.UTF_8);
        return truncated() ? text + marker(what, length, hint) : text;
    }

    /**
     * How many of the kept bytes {@link #text} shows: all, or up to the last whole character of a cut stream. A reader
     * paging through a file goes on from there, or it would skip the split character.
     */
    int textBytes() {
        byte[] bytes = kept.toByteArray();
        return truncated() ? completeUtf8Length(bytes) : bytes.length;
    }

    /** The marker alone (starting on a new line), for callers that show the bytes some other way (base64). */
    String marker(String what, String hint) {
        return marker(what, kept.size(), hint);
    }

    private String marker(String what, long shownBytes, String hint) {
        String total = cutUpstream && seenBytes <= limitBytes ? "more than " + limitBytes : Long.toString(seenBytes);
        return "\n[kelpie: " + what + " truncated: showing the first " + shownBytes + " of " + total + " bytes; "
                + hint + "]";
    }

    /**
     * The length of the longest prefix that does not end inside a UTF-8 sequence: a cut at the limit may have split
     * the last character, and a half character would decode to a replacement character the model could take for data.
     */
    static int completeUtf8Length(byte[] bytes) {
        int end = bytes.length;
        // A sequence is at most 4 bytes: look back at most 3 for the lead byte of the last one.
        for (int back = 1; back <= Math.min(3, end); back++) {
            int b = bytes[end - back] & 0xff;
            if ((b & 0xC0) == 0x80) {
                continue; // continuation byte: keep looking for its lead
            }
            int needed = (b & 0x80) == 0 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return needed > back ? end - back : end;
        }
        return end;
    }
}
