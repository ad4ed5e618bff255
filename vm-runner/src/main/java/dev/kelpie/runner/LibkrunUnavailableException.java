package dev.kelpie.runner;

/** libkrun cannot be loaded, or lacks a function no VM can start without. */
public final class LibkrunUnavailableException extends RuntimeException {

    public LibkrunUnavailableException(String message) {
        super(message);
    }
}
