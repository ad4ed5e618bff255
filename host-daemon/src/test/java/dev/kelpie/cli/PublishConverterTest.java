package dev.kelpie.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.api.v1.PortForward;
import java.util.List;
import org.junit.jupiter.api.Test;

class PublishConverterTest {

    private final PublishConverter converter = new PublishConverter();

    @Test
    void hostAndGuestOrGuestAlone() {
        assertEquals(PortForward.newBuilder().setHostPort(8080).setGuestPort(80).build(), converter.convert("8080:80"));
        assertEquals(PortForward.newBuilder().setHostPort(0).setGuestPort(80).build(), converter.convert("80"));
        assertEquals(PortForward.newBuilder().setHostPort(0).setGuestPort(80).build(), converter.convert("0:80"));
    }

    @Test
    void anythingElseIsRefusedWithTheValueNamed() {
        for (String bad : List.of("", "x", "1:2:3", "127.0.0.1:8080:80", "8080:0", "70000:80", "-1:80", "8080:")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> converter.convert(bad), bad);
            assertTrue(e.getMessage().startsWith("'" + bad + "'"), e.getMessage());
        }
    }
}
