package dev.kelpie.cli;

import dev.kelpie.api.v1.PullProgress;
import java.io.PrintStream;
import java.util.Locale;

/** A one-line progress bar for downloads: bytes, rate and time left, redrawn in place on a terminal. */
final class ProgressBar {

    private static final int WIDTH_CHARS = 30;
    private static final long KIB = 1024;

    private final PrintStream out;
    private final boolean interactive;
    private String lastPhase = "";
    private boolean drawn;

    ProgressBar(PrintStream out, boolean interactive) {
        this.out = out;
        this.interactive = interactive;
    }

    void update(PullProgress p) {
        if (!interactive) {
            if (!p.getPhase().equals(lastPhase)) { // without a terminal, one line per phase
                out.println(p.getPhase() + " " + p.getFile());
                lastPhase = p.getPhase();
            }
            return;
        }
        out.print("\r" + line(p) + "\u001b[K");
        out.flush();
        drawn = true;
    }

    void finish() {
        if (drawn) {
            out.println();
        }
    }

    /** The bar's text, e.g. {@code [#######       ]  45%  12.3 MiB / 27.0 MiB  3.1 MiB/s  ETA 5s}. */
    static String line(PullProgress p) {
        if (!p.getPhase().equals("downloading") || p.getTotalBytes() == 0) {
            return p.getPhase() + " " + p.getFile();
        }
        double fraction = Math.min(1.0, (double) p.getReceivedBytes() / p.getTotalBytes());
        int filled = (int) Math.round(fraction * WIDTH_CHARS);
        String eta = p.getRateBytesPerSecond() == 0 ? "?"
                : duration((p.getTotalBytes() - p.getReceivedBytes()) / p.getRateBytesPerSecond());
        return String.format(Locale.ROOT, "[%s%s] %3d%%  %s / %s  %s/s  ETA %s", "#".repeat(filled),
                " ".repeat(WIDTH_CHARS - filled), Math.round(fraction * 100), bytes(p.getReceivedBytes()),
                bytes(p.getTotalBytes()), bytes(p.getRateBytesPerSecond()), eta);
    }

    static String bytes(long n) {
        if (n < KIB) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double value = n;
        int unit = -1;
        while (value >= KIB && unit < units.length - 1) {
            value /= KIB;
            unit++;
        }
        return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
    }

    private static String duration(long seconds) {
        return seconds >= 3600 ? seconds / 3600 + "h" + (seconds % 3600) / 60 + "m"
                : seconds >= 60 ? seconds / 60 + "m" + seconds % 60 + "s" : seconds + "s";
    }
}
