//! Entry point: parse arguments, do init duties when PID 1, serve.

use kelpie_agent::config::{parse_args, Command};

fn main() {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Version) => {
            // image-build records both numbers in the image's metadata.json from this line.
            println!(
                "kelpie-agent {} (protocol {})",
                env!("CARGO_PKG_VERSION"),
                kelpie_agent::rpc::lifecycle::PROTOCOL_VERSION
            );
            return;
        }
        Err(message) => {
            eprintln!("{}", message);
            std::process::exit(2);
        }
    };
    let config = if kelpie_agent::init::wanted(&config) { kelpie_agent::init::boot(config) } else { config };
    if config.listen.is_empty() {
        eprintln!("no --listen given\n{}", kelpie_agent::config::USAGE);
        std::process::exit(2);
    }
    // Two workers: one stays free for Health while user code floods the other with output.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(kelpie_agent::run(config)),
        Err(err) => Err(err),
    };
    if let Err(err) = result {
        eprintln!("kelpie-agent: {}", err);
        // As PID 1, exiting would panic the kernel; park instead so the console shows why.
        if kelpie_agent::init::wanted(&kelpie_agent::AgentConfig::default()) {
            loop {
                std::thread::park();
            }
        }
        std::process::exit(1);
    }
}
