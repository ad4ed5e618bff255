package dev.kelpie.daemon.teleport;

import dev.kelpie.daemon.errors.InvalidRequestException;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kelpie.daemon.network.NetworkMode;
import dev.kelpie.daemon.network.NetworkPolicy;
import dev.kelpie.daemon.network.PortForward;
import dev.kelpie.teleport.pkg.SourceNetwork;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A manifest's network policy is store data: it round-trips, and what this daemon cannot accept is refused by name. */
class PackagedNetworkTest {

    @Test
    void aPolicyRoundTripsThroughTheManifest() {
        NetworkPolicy policy = new NetworkPolicy(NetworkMode.EGRESS, List.of("pypi.org", "10.0.0.0/8:443"),
                List.of(new PortForward(0, 80), new PortForward(8080, 8000)));
        assertEquals(policy, PackagedNetwork.toPolicy(PackagedNetwork.toSource(policy)));
        assertEquals(NetworkPolicy.NONE, PackagedNetwork.toPolicy(SourceNetwork.NONE));
    }

    @Test
    void aManifestPolicyThisDaemonCannotAcceptIsRefusedNamingWhatIsWrong() {
        InvalidRequestException mode = assertThrows(InvalidRequestException.class,
                () -> PackagedNetwork.toPolicy(new SourceNetwork("bridged", List.of(), List.of())));
        assertTrue(mode.getMessage().contains("'bridged'"), mode.getMessage());
        InvalidRequestException entry = assertThrows(InvalidRequestException.class,
                () -> PackagedNetwork.toPolicy(new SourceNetwork("egress", List.of("not a host"), List.of())));
        assertTrue(entry.getMessage().contains("'not a host'"), entry.getMessage());
        assertThrows(InvalidRequestException.class, () -> PackagedNetwork.toPolicy(new SourceNetwork("none", List.of(),
                List.of(new SourceNetwork.PublishedPort(8080, 0)))));
        assertThrows(InvalidRequestException.class, () -> PackagedNetwork.toPolicy(new SourceNetwork("none",
                List.of("pypi.org"), List.of())), "an allowlist without egress");
    }
}
