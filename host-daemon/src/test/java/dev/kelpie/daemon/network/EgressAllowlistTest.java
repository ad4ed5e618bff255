package dev.kelpie.daemon.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EgressAllowlistTest {

    private static final InetAddress PUBLIC = ip("93.184.216.34");
    private static final InetAddress HOST_LAN = ip("192.168.1.5");

    private static InetAddress ip(String literal) {
        return EgressAllowlist.ipLiteral(literal);
    }

    private static EgressAllowlist.Verdict check(List<String> allow, String host, int port, InetAddress... resolved) {
        return EgressAllowlist.parse(allow).check(host, port, List.of(resolved), Set.of(HOST_LAN)::contains);
    }

    @Test
    void namesMatchExactlyAndWildcardsOnlySubdomains() {
        List<String> allow = List.of("pypi.org", "*.pythonhosted.org");
        assertTrue(check(allow, "pypi.org", 443, PUBLIC).allowed());
        assertTrue(check(allow, "PyPI.org.", 443, PUBLIC).allowed());
        assertTrue(check(allow, "files.pythonhosted.org", 443, PUBLIC).allowed());
        assertFalse(check(allow, "pythonhosted.org", 443, PUBLIC).allowed());
        assertFalse(check(allow, "evilpypi.org", 443, PUBLIC).allowed());
        assertFalse(check(allow, "pypi.org.evil.com", 443, PUBLIC).allowed());
    }

    @Test
    void portsNarrowAnEntry() {
        List<String> allow = List.of("github.com:443", "10.1.0.0/16:8080", "[2001:db8::]/32:22");
        assertTrue(check(allow, "github.com", 443, PUBLIC).allowed());
        assertFalse(check(allow, "github.com", 22, PUBLIC).allowed());
        assertTrue(check(allow, "10.1.2.3", 8080, ip("10.1.2.3")).allowed());
        assertFalse(check(allow, "10.1.2.3", 8081, ip("10.1.2.3")).allowed());
        assertTrue(check(allow, "2001:db8::7", 22, ip("2001:db8::7")).allowed());
        assertFalse(check(allow, "10.2.0.1", 8080, ip("10.2.0.1")).allowed());
    }

    @Test
    void cidrsMatchByPrefixBits() {
        List<String> allow = List.of("10.0.0.0/9");
        assertTrue(check(allow, "10.127.255.255", 80, ip("10.127.255.255")).allowed());
        assertFalse(check(allow, "10.128.0.0", 80, ip("10.128.0.0")).allowed());
    }

    @Test
    void theAddressToUseIsTheOneChecked() {
        EgressAllowlist.Verdict v = check(List.of("10.0.0.0/8"), "mirror.internal", 80, ip("8.8.8.8"), ip("10.9.9.9"));
        assertEquals(Optional.of(ip("10.9.9.9")), v.address());
    }

    @Test
    void anEmptyListAllowsOrdinaryAddressesOnly() {
        assertTrue(check(List.of(), "example.com", 443, PUBLIC).allowed());
        for (InetAddress special : List.of(ip("127.0.0.1"), ip("::1"), ip("169.254.169.254"), ip("0.0.0.0"),
                ip("224.0.0.1"), HOST_LAN)) {
            EgressAllowlist.Verdict v = check(List.of(), special.getHostAddress(), 80, special);
            assertFalse(v.allowed(), special.toString());
            assertTrue(v.reason().contains("reachable only when the allowlist names that exact IP"), v.reason());
        }
    }

    @Test
    void privateAndReservedAddressesNeedAnEntryThatMatchesThem() {
        for (String address : List.of("10.1.2.3", "172.16.0.1", "192.168.7.7", "100.100.100.200", "198.18.0.1",
                "192.0.0.170", "240.0.0.1", "255.255.255.255", "0.1.2.3", "fd00:ec2::254", "64:ff9b::7f00:1",
                "2002:7f00:1::", "::7f00:1")) {
            InetAddress ip = ip(address);
            EgressAllowlist.Verdict v = check(List.of(), address, 80, ip);
            assertFalse(v.allowed(), address);
            assertTrue(v.reason().contains("public addresses only") || v.reason().contains("exact IP"), v.reason());
        }
        assertTrue(check(List.of("10.0.0.0/8"), "10.1.2.3", 80, ip("10.1.2.3")).allowed());
        assertTrue(check(List.of("mirror.corp"), "mirror.corp", 443, ip("10.1.2.3")).allowed());
        assertFalse(check(List.of("mirror.corp"), "other.corp", 443, ip("10.1.2.3")).allowed());
    }

    @Test
    void loopbackAndHostAddressesNeedAnEntryNamingThatExactIp() {
        // A name the guest controls (DNS) or a wide CIDR never leads into the host.
        assertFalse(check(List.of("*.attacker.example"), "x.attacker.example", 80, ip("127.0.0.1")).allowed());
        assertFalse(check(List.of("0.0.0.0/0"), "127.0.0.1", 80, ip("127.0.0.1")).allowed());
        assertFalse(check(List.of("192.168.0.0/16"), "192.168.1.5", 80, HOST_LAN).allowed());
        assertFalse(check(List.of("127.0.0.0/8"), "127.0.0.1", 80, ip("127.0.0.1")).allowed());
        assertTrue(check(List.of("127.0.0.1:8080"), "127.0.0.1", 8080, ip("127.0.0.1")).allowed());
        assertFalse(check(List.of("127.0.0.1:8080"), "127.0.0.1", 8081, ip("127.0.0.1")).allowed());
        assertTrue(check(List.of("192.168.1.5"), "192.168.1.5", 22, HOST_LAN).allowed());
        assertTrue(check(List.of("0.0.0.0/0"), "example.com", 80, PUBLIC).allowed());
    }

    @Test
    void refusalsSayWhy() {
        assertEquals("nowhere.invalid did not resolve to any address",
                check(List.of("nowhere.invalid"), "nowhere.invalid", 80).reason());
        assertEquals("example.com:80 (93.184.216.34) is not in this sandbox's allowlist",
                check(List.of("pypi.org"), "example.com", 80, PUBLIC).reason());
    }

    @Test
    void badEntriesAreRefusedWithTheEntryNamed() {
        for (String bad : List.of("", "not a host", "*.", "a..b", "10.0.0.0/33", "[::1", "host:0", "host:70000",
                "-lead.example", "*.*.example", "x/8")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> EgressAllowlist.parse(List.of(bad)), bad);
            assertTrue(e.getMessage().startsWith(bad.isEmpty() ? "empty allow entry" : "allow entry '" + bad + "'"),
                    e.getMessage());
        }
    }
}
