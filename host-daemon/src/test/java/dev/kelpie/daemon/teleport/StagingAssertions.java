package dev.kelpie.daemon.teleport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** What a teleport operation must leave behind in its staging area, done or failed: nothing. */
public final class StagingAssertions {

    private StagingAssertions() {}

    public static void assertStagingEmpty(StagingArea staging) throws IOException {
        if (Files.exists(staging.root())) {
            try (Stream<Path> left = Files.list(staging.root())) {
                assertEquals(List.of(), left.toList(), "left in staging");
            }
        }
    }
}
