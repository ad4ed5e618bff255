package dev.kelpie.cli;

import com.google.protobuf.ByteString;
import dev.kelpie.api.v1.CopyPackageRequest;
import dev.kelpie.api.v1.DeletePackageRequest;
import dev.kelpie.api.v1.ExportPackageRequest;
import dev.kelpie.api.v1.ExportPackageResponse;
import dev.kelpie.api.v1.InspectPackageRequest;
import dev.kelpie.api.v1.ListPackagesRequest;
import dev.kelpie.api.v1.PackageSummary;
import dev.kelpie.api.v1.PackagesGrpc;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code kelpie packages ls|inspect|rm|export|import|cp}. */
@Command(name = "packages", description = "Teleport packages in the daemon's stores.",
        subcommands = {PackagesCommand.Ls.class, PackagesCommand.Inspect.class, PackagesCommand.Rm.class,
                PackagesCommand.Export.class, PackagesCommand.Import.class, PackagesCommand.Cp.class})
final class PackagesCommand {

    private static final int CHUNK_BYTES = 256 * 1024;

    @ParentCommand
    KelpieCli cli;

    PackagesGrpc.PackagesBlockingStub packages() {
        return PackagesGrpc.newBlockingStub(cli.channel());
    }

    /** Works in one store. */
    abstract static class InStore {
        @ParentCommand
        PackagesCommand parent;

        @Option(names = "--store", description = "package store (default: the daemon's default store)")
        String store = "";
    }

    /** Names one package in one store. */
    abstract static class OnePackage extends InStore {
        @Parameters(index = "0", paramLabel = "PACKAGE", description = "package id")
        String id;
    }

    @Command(name = "ls", aliases = "list", description = "List packages, newest first.")
    static final class Ls extends InStore implements Callable<Integer> {
        @Override
        public Integer call() {
            for (PackageSummary p : parent.packages().list(ListPackagesRequest.newBuilder().setStore(store).build())
                    .getPackagesList()) {
                TeleportCommands.printPackage(p);
            }
            return 0;
        }
    }

    @Command(name = "inspect", description = "Print a package's manifest.")
    static final class Inspect extends OnePackage implements Callable<Integer> {
        @Override
        public Integer call() {
            System.out.println(parent.packages().inspect(InspectPackageRequest.newBuilder().setId(id).setStore(store)
                    .build()).getManifestJson());
            return 0;
        }
    }

    @Command(name = "rm", aliases = "delete", description = "Delete a package.")
    static final class Rm extends OnePackage implements Callable<Integer> {
        @Override
        public Integer call() {
            parent.packages().delete(DeletePackageRequest.newBuilder().setId(id).setStore(store).build());
            return 0;
        }
    }

    @Command(name = "export", description = "Write a package as one archive file (for a host that shares no store).")
    static final class Export extends OnePackage implements Callable<Integer> {
        @Parameters(index = "1", paramLabel = "FILE", description = "archive to write")
        Path file;

        @Override
        public Integer call() throws Exception {
            Path partial = file.resolveSibling(file.getFileName() + ".partial");
            try (OutputStream out = Files.newOutputStream(partial)) {
                Iterator<ExportPackageResponse> chunks = parent.packages()
                        .export(ExportPackageRequest.newBuilder().setId(id).setStore(store).build());
                while (chunks.hasNext()) {
                    chunks.next().getData().writeTo(out);
                }
            } catch (RuntimeException e) {
                Files.deleteIfExists(partial);
                throw e;
            }
            Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return 0;
        }
    }

    @Command(name = "import", description = "Publish a package archive made by export; every blob is verified.")
    static final class Import extends InStore implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE", description = "archive made by export")
        Path file;

        @Override
        public Integer call() throws Exception {
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buffer = new byte[CHUNK_BYTES];
                TeleportCommands.printPackage(PackageUpload.upload(parent.cli.channel(), store, () -> {
                    int n = in.read(buffer);
                    return n < 0 ? Optional.empty() : Optional.of(ByteString.copyFrom(buffer, 0, n));
                }));
            }
            return 0;
        }
    }

    @Command(name = "cp", aliases = "copy", description = "Copy a package from one store to another.")
    static final class Cp implements Callable<Integer> {
        @ParentCommand
        PackagesCommand parent;

        @Parameters(index = "0", paramLabel = "PACKAGE", description = "package id")
        String id;

        @Option(names = "--from", description = "source store (default: the daemon's default store)")
        String from = "";

        @Option(names = "--to", required = true, description = "destination store")
        String to;

        @Override
        public Integer call() {
            TeleportCommands.printPackage(parent.packages().copy(CopyPackageRequest.newBuilder().setId(id)
                    .setFromStore(from).setToStore(to).build()).getPackage());
            return 0;
        }
    }
}
