//! `genesisdb-server`: a local Genesis DB v1-compatible server.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// A local Genesis DB v1-compatible server, for development and tests.
// No `Debug`: the arguments hold the token.
#[derive(Parser)]
#[command(name = "genesisdb-server", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Bearer token required on every route but ping.
    #[arg(
        long,
        env = "GENESISDB_AUTH_TOKEN",
        hide_env_values = true,
        default_value = "secret"
    )]
    token: String,
    /// Keep events in this directory (append-only log); in memory when absent.
    #[arg(long, env = "GENESISDB_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Observe heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u64,
}

/// Installs the SIGINT/SIGTERM handlers now (before the ready line is
/// printed) and returns a future that completes on the first signal.
fn signals() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let t = async {
                match term {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let i = async {
                match int {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = t => {}
                _ = i => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let config = genesisdb_server::ServerConfig {
        host: args.host,
        port: args.port,
        token: args.token,
        data_dir: args.data_dir,
        heartbeat: Duration::from_millis(args.heartbeat_ms.max(1)),
    };
    let stop = signals();
    let server = match genesisdb_server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("genesisdb-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Genesis DB local server listening on {}", server.url());
        let _ = out.flush();
    }
    stop.await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
