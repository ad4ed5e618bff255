//! One-line logs to stderr (the console when running as PID 1).

/// Logs a line prefixed with the agent's name and the Unix time in milliseconds.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("kelpie-agent {}: {}", $crate::process::registry::unix_ms(), format_args!($($arg)*))
    };
}
