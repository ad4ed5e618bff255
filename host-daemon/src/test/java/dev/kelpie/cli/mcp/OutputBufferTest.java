package dev.kelpie.cli.mcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class OutputBufferTest {

    private static final String HINT = "do this";

    private static OutputBuffer of(long limit, String... chunks) {
        OutputBuffer b = new OutputBuffer(limit);
        for (String c : chunks) {
            b.append(c.getBytes(StandardCharsets.UTF_8));
        }
        return b;
    }

    @Test
    void outputWithinTheLimitIsReturnedAsIs() {
        OutputBuffer b = of(10, "hello", "12345");
        assertFalse(b.truncated());
        assertEquals("hello12345", b.text("stdout", HINT));
    }

    @Test
    void outputPastTheLimitIsCutWithAMarkerNamingSizesAndWhatToDo() {
        OutputBuffer b = of(8, "hello", " world");
        assertTrue(b.truncated());
        assertEquals("hello wo\n[kelpie: stdout truncated: showing the first 8 of 11 bytes; do this]",
                b.text("stdout", HINT));
    }

    @Test
    void aCharacterSplitByTheLimitIsLeftForTheNextPageNotSkipped() {
        OutputBuffer b = of(6, "abcde\u00e9xyz"); // é is 2 bytes: the limit cuts it after its first
        assertEquals(6, b.keptBytes());
        assertEquals(5, b.textBytes(), "the next page must start at é");
        assertEquals("abcde\n[kelpie: file truncated: showing the first 5 of 10 bytes; do this]", b.text("file", HINT));
    }

    @Test
    void aStreamTheSenderCutSaysMoreThanTheLimitWhenTheTotalIsUnknown() {
        OutputBuffer b = of(5, "hello");
        b.markCutUpstream();
        assertTrue(b.truncated());
        assertTrue(b.text("stderr", HINT).endsWith("showing the first 5 of more than 5 bytes; do this]"));
    }

    @Test
    void aKnownTotalCountsAsCutEvenIfTheRestNeverArrived() {
        OutputBuffer b = of(5, "hello");
        b.knownTotal(42);
        assertTrue(b.text("file", HINT).startsWith("hello\n[kelpie: file truncated: showing the first 5 of 42 bytes"));
    }

    @Test
    void aCutNeverSplitsAUtf8Character() {
        // "é" is two bytes: a limit of 2 keeps "a" and half of "é", which must not show as a replacement character
        OutputBuffer b = of(2, "aé");
        assertTrue(b.text("stdout", HINT).startsWith("a\n[kelpie:"), b.text("stdout", HINT));
        // a four-byte emoji cut after 1, 2 or 3 of its bytes
        for (int keep = 1; keep <= 3; keep++) {
            assertTrue(of(1 + keep, "x😀y").text("stdout", HINT).startsWith("x\n[kelpie:"));
        }
        assertTrue(of(5, "x😀y").text("stdout", HINT).startsWith("x😀\n[kelpie:"));
    }

    @Test
    void completeUtf8LengthKeepsWholeCharactersOnly() {
        assertEquals(0, OutputBuffer.completeUtf8Length(new byte[0]));
        assertEquals(3, OutputBuffer.completeUtf8Length("abc".getBytes(StandardCharsets.UTF_8)));
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8);
        assertEquals(3, OutputBuffer.completeUtf8Length(euro));
        assertEquals(0, OutputBuffer.completeUtf8Length(new byte[] {euro[0], euro[1]}));
        // not UTF-8 at all: a stray continuation byte is kept (it decodes to U+FFFD, but is not a cut character)
        assertEquals(1, OutputBuffer.completeUtf8Length(new byte[] {(byte) 0x80}));
    }

    @Test
    void binaryContentIsToldApartFromText() {
        OutputBuffer text = of(100, "plain ünïcode");
        assertTrue(text.isUtf8());
        OutputBuffer binary = new OutputBuffer(100);
        binary.append(new byte[] {0, (byte) 0xff, (byte) 0xfe, 1});
        assertFalse(binary.isUtf8());
        // text cut in the middle of a character is still text
        assertTrue(of(2, "aé").isUtf8());
    }
}
