package dev.kelpie.daemon.network;

import java.util.OptionalInt;

/** TCP port numbers as text. */
final class TcpPorts {

    static final int MAX = 65535;

    private TcpPorts() {}

    /** The port {@code digits} names, if it is a decimal number in 1..65535. */
    static OptionalInt parse(String digits) {
        if (digits.isEmpty() || digits.length() > 5 || !digits.chars().allMatch(Character::isDigit)) {
            return OptionalInt.empty();
        }
        int port = Integer.parseInt(digits);
        return port >= 1 && port <= MAX ? OptionalInt.of(port) : OptionalInt.empty();
    }
}
