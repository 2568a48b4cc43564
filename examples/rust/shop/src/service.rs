//! Running an example service: the address from the environment, logs as JSON
//! on standard error, stop on SIGTERM.

use std::process::ExitCode;
use std::time::SystemTime;

use evented::Server;
use serde_json::json;
use tokio::net::TcpListener;

/// Writes one JSON log line to standard error, like the Go examples' slog.
pub fn log(service: &str, level: &str, msg: &str) {
    let line = json!({
        "time": prost_types::Timestamp::from(SystemTime::now()).to_string(),
        "level": level,
        "msg": msg,
        "service": service,
    });
    eprintln!("{line}");
}

/// Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset means
/// every interface, PORT defaults to `default_port`).
pub async fn listen(default_port: u16) -> std::io::Result<TcpListener> {
    let host = std::env::var("LISTEN_HOST").unwrap_or_default();
    let port = match std::env::var("PORT") {
        Ok(p) if !p.is_empty() => p.parse::<u16>().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("PORT={p}: {e}"))
        })?,
        _ => default_port,
    };
    if host.is_empty() {
        // Every interface: IPv6 and IPv4 where the system allows, else IPv4.
        return match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", port)).await,
        };
    }
    TcpListener::bind((host.trim_start_matches('[').trim_end_matches(']'), port)).await
}

/// Serves `server` until SIGTERM or SIGINT.
pub async fn run(name: &str, default_port: u16, what: &str, server: Server) -> ExitCode {
    let listener = match listen(default_port).await {
        Ok(l) => l,
        Err(e) => {
            log(name, "ERROR", &format!("listen: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    log(name, "INFO", &format!("serving {what} on {addr}"));
    match server
        .serve_listener(listener, evented::shutdown_signal())
        .await
    {
        Ok(()) => {
            log(name, "INFO", "stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log(name, "ERROR", &format!("stopped: {e}"));
            ExitCode::FAILURE
        }
    }
}
