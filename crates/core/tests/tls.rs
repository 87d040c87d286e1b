//! `https://` with a custom CA (`ca_file`): trusted when given, refused when not.
//! Test certificates in `tests/data` (P-256, valid until 2126): `test-ca.pem` signs
//! `localhost.pem` (SAN localhost, 127.0.0.1).

use std::sync::Arc;

use genesisdb_core::{Client, Config, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn tls_server() -> R<String> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(data("localhost.pem"))?.collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_file(data("localhost.key"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 16384];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Ok(format!("https://localhost:{port}"))
}

#[tokio::test]
async fn custom_ca_file_is_trusted() -> R<()> {
    let url = tls_server().await?;
    let mut config = Config::new(&url, "tls-token");
    config.ca_file = Some(data("test-ca.pem").into());
    let c = Client::new(config)?;
    assert_eq!(c.ping().await?, "pong");

    // Without the CA the certificate is refused (never silently accepted).
    let mut config = Config::new(&url, "tls-token");
    config.retry.max_attempts = 1;
    let c = Client::new(config)?;
    match c.ping().await {
        Err(e @ (Error::Connect { .. } | Error::Transport { .. })) => {
            let text = e.to_string();
            assert!(!text.contains("tls-token"), "{text}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    Ok(())
}
