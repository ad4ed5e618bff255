package dev.kelpie.daemon.network;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * Which destinations a guest's egress may reach. Entries are host names ({@code pypi.org}), wildcard domains
 * ({@code *.pythonhosted.org}: subdomains, not the apex), IP addresses and CIDRs ({@code 10.0.0.0/8},
 * {@code [2001:db8::]/32}), each with an optional {@code :PORT}. An empty list allows every public address.
 *
 * <p>Two kinds of addresses are held back. <b>Host-internal</b> ones — loopback, link-local (cloud metadata), unspecified,
 * multicast and the host's own addresses — are never reached through a name or a CIDR, only through an entry that is
 * exactly that IP: a name under the guest's control (DNS answers are) must not lead into the host's own services, the
 * other sandboxes' published ports or the daemon's API. <b>Private and reserved</b> ones — 10/8, 172.16/12,
 * 192.168/16, 100.64/10, 0/8, 192.0.0/24, 198.18/15, 240/4, fc00::/7 and the IPv6 forms that embed an IPv4 address
 * (NAT64, 6to4, IPv4-compatible) — are reached only through an entry that matches them (a name or a CIDR), never
 * through an empty list: the LAN and a cloud's internal network are not "the internet".
 */
public final class EgressAllowlist {

    private static final Pattern LABEL = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    private static final int MAX_NAME_CHARS = 253;

    private sealed interface Entry permits Name, Network {}

    /** A host name; {@code wildcard} matches its subdomains instead. */
    private record Name(String name, boolean wildcard, int port) implements Entry {
        boolean matches(String host, int wantedPort) {
            boolean nameOk = wildcard ? host.endsWith("." + name) : host.equals(name);
            return nameOk && (port == 0 || port == wantedPort);
        }
    }

    /** An address range; {@code prefixBits} equal to the address width is a single address. */
    private record Network(byte[] address, int prefixBits, int port) implements Entry {
        boolean single() {
            return prefixBits == address.length * 8;
        }

        boolean contains(InetAddress candidate, int wantedPort) {
            byte[] other = candidate.getAddress();
            if (other.length != address.length || (port != 0 && port != wantedPort)) {
                return false;
            }
            int full = prefixBits / 8;
            for (int i = 0; i < full; i++) {
                if (other[i] != address[i]) {
                    return false;
                }
            }
            int rest = prefixBits % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xff << (8 - rest)) & 0xff;
            return (other[full] & mask) == (address[full] & mask);
        }
    }

    /**
     * What a check decided.
     *
     * @param address the address to connect to, when allowed: the one that was checked, so a second DNS answer cannot
     *     swap it
     * @param reason why not, when refused
     */
    public record Verdict(Optional<InetAddress> address, String reason) {
        public boolean allowed() {
            return address.isPresent();
        }
    }

    private final List<Entry> entries;

    private EgressAllowlist(List<Entry> entries) {
        this.entries = List.copyOf(entries);
    }

    /** @throws IllegalArgumentException naming the first entry that is not a host name, IP or CIDR */
    public static EgressAllowlist parse(List<String> raw) {
        List<Entry> entries = new ArrayList<>();
        for (String text : raw) {
            entries.add(parseEntry(text));
        }
        return new EgressAllowlist(entries);
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    /**
     * What the entries that open host-internal addresses (exact loopback, link-local, unspecified, multicast or host
     * IPs) open, in words; empty when none does. Only an API caller's own policy may have such entries.
     */
    public List<String> hostInternalEntries(Predicate<InetAddress> hostOwn) {
        List<String> found = new ArrayList<>();
        for (Entry entry : entries) {
            if (entry instanceof Network n && n.single()) {
                try {
                    InetAddress address = InetAddress.getByAddress(n.address());
                    String kind = hostInternalKind(address, hostOwn);
                    if (kind != null) {
                        found.add(address.getHostAddress() + " (" + kind + ")");
                    }
                } catch (UnknownHostException e) {
                    throw new IllegalStateException("a parsed address has 4 or 16 bytes", e);
                }
            }
        }
        return found;
    }

    /**
     * Whether {@code host:port} may be reached, given what the host name resolved to.
     *
     * @param host a name or an IP literal, as the guest asked
     * @param resolved its addresses (the literal itself for an IP)
     * @param hostOwn whether an address is one of this host's own
     */
    public Verdict check(String host, int port, List<InetAddress> resolved, Predicate<InetAddress> hostOwn) {
        String name = normalizeHost(host);
        boolean literal = ipLiteral(name) != null;
        boolean nameAllowed = !literal && entries.stream().anyMatch(e -> e instanceof Name n && n.matches(name, port));
        String refusal = resolved.isEmpty() ? host + " did not resolve to any address" : null;
        for (InetAddress address : resolved) {
            String internal = hostInternalKind(address, hostOwn);
            if (internal != null) {
                if (entries.stream().anyMatch(e -> e instanceof Network n && n.single() && n.contains(address, port))) {
                    return new Verdict(Optional.of(address), "");
                }
                refusal = host + ":" + port + " is " + address.getHostAddress() + ", " + internal
                        + "; such addresses are reachable only when the allowlist names that exact IP";
                continue;
            }
            boolean listed = nameAllowed
                    || entries.stream().anyMatch(e -> e instanceof Network n && n.contains(address, port));
            if (listed || (entries.isEmpty() && !isPrivate(address))) {
                return new Verdict(Optional.of(address), "");
            }
            if (entries.isEmpty()) {
                refusal = host + ":" + port + " is " + address.getHostAddress() + ", a private or reserved address;"
                        + " an empty allowlist reaches public addresses only (list its name or network to allow it)";
                continue;
            }
            refusal = host + ":" + port + (literal ? "" : " (" + address.getHostAddress() + ")")
                    + " is not in this sandbox's allowlist";
        }
        return new Verdict(Optional.empty(), refusal);
    }

    /** The IP of a literal (brackets allowed for IPv6), or null for a name. */
    public static InetAddress ipLiteral(String host) {
        String bare = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(bare);
        if (bytes == null) {
            return null;
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    static String normalizeHost(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        return h.endsWith(".") ? h.substring(0, h.length() - 1) : h;
    }

    private static String hostInternalKind(InetAddress address, Predicate<InetAddress> hostOwn) {
        if (address.isLoopbackAddress()) {
            return "a loopback address";
        }
        if (address.isLinkLocalAddress()) {
            return "a link-local address";
        }
        if (address.isAnyLocalAddress()) {
            return "the unspecified address";
        }
        if (address.isMulticastAddress()) {
            return "a multicast address";
        }
        return hostOwn.test(address) ? "an address of this host" : null;
    }

    /** Private, shared and reserved ranges, and IPv6 addresses that stand for an IPv4 one. */
    static boolean isPrivate(InetAddress address) {
        byte[] b = address.getAddress();
        int b0 = b[0] & 0xff;
        int b1 = b[1] & 0xff;
        if (b.length == 4) {
            return address.isSiteLocalAddress()           // 10/8, 172.16/12, 192.168/16
                    || b0 == 0                             // "this network"
                    || (b0 == 100 && (b1 & 0xc0) == 64)    // 100.64/10, carrier-grade NAT (and some clouds' metadata)
                    || (b0 == 192 && b1 == 0 && (b[2] & 0xff) == 0) // 192.0.0/24, protocol assignments
                    || (b0 == 198 && (b1 & 0xfe) == 18)    // 198.18/15, benchmarking
                    || b0 >= 240;                          // 240/4 reserved, and broadcast
        }
        boolean uniqueLocal = (b0 & 0xfe) == 0xfc;                               // fc00::/7
        boolean nat64 = b0 == 0x00 && b1 == 0x64 && (b[2] & 0xff) == 0xff && (b[3] & 0xff) == 0x9b; // 64:ff9b::/96
        boolean sixToFour = b0 == 0x20 && b1 == 0x02;                            // 2002::/16
        boolean v4Compatible = true;                                             // ::a.b.c.d
        for (int i = 0; i < 12; i++) {
            v4Compatible &= b[i] == 0;
        }
        return uniqueLocal || nat64 || sixToFour || v4Compatible || address.isSiteLocalAddress();
    }

    private static Entry parseEntry(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("empty allow entry");
        }
        String t = text.strip().toLowerCase(Locale.ROOT);
        String hostPart = t;
        int port = 0;
        if (t.startsWith("[")) {
            int close = t.indexOf(']');
            if (close < 0) {
                throw bad(text, "']' missing");
            }
            hostPart = t.substring(1, close);
            String after = t.substring(close + 1);
            if (after.startsWith("/")) {
                int colon = after.indexOf(':');
                hostPart += colon < 0 ? after : after.substring(0, colon);
                after = colon < 0 ? "" : after.substring(colon);
            }
            if (!after.isEmpty()) {
                if (!after.startsWith(":")) {
                    throw bad(text, "expected :PORT after ']'");
                }
                port = port(text, after.substring(1));
            }
        } else if (t.indexOf(':') == t.lastIndexOf(':') && t.indexOf(':') >= 0) {
            hostPart = t.substring(0, t.indexOf(':'));
            port = port(text, t.substring(t.indexOf(':') + 1));
        }
        String address = hostPart;
        int prefix = -1;
        int slash = hostPart.indexOf('/');
        if (slash >= 0) {
            address = hostPart.substring(0, slash);
            try {
                prefix = Integer.parseInt(hostPart.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw bad(text, "prefix length is not a number");
            }
        }
        InetAddress ip = ipLiteral(address);
        if (ip != null) {
            int width = ip.getAddress().length * 8;
            if (prefix == -1) {
                prefix = width;
            }
            if (prefix < 0 || prefix > width) {
                throw bad(text, "prefix length must be 0.." + width);
            }
            return new Network(ip.getAddress(), prefix, port);
        }
        if (slash >= 0) {
            throw bad(text, "a CIDR needs an IP address before '/'");
        }
        boolean wildcard = address.startsWith("*.");
        String name = wildcard ? address.substring(2) : address;
        name = name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
        if (name.isEmpty() || name.length() > MAX_NAME_CHARS || name.contains("*")) {
            throw bad(text, "not a host name, IP address or CIDR");
        }
        for (String label : name.split("\\.", -1)) {
            if (!LABEL.matcher(label).matches()) {
                throw bad(text, "not a host name, IP address or CIDR");
            }
        }
        return new Name(name, wildcard, port);
    }

    private static int port(String text, String digits) {
        return TcpPorts.parse(digits).orElseThrow(() -> bad(text, "port must be 1.." + TcpPorts.MAX));
    }

    private static IllegalArgumentException bad(String text, String why) {
        return new IllegalArgumentException("allow entry '" + text + "': " + why
                + " (expected NAME, *.DOMAIN, IP or CIDR, each with an optional :PORT; IPv6 in brackets)");
    }
}
