//! `bench-upstream`: the origin server of `cargo xtask bench`. One thread,
//! HTTP/1.1 keep-alive, fixed bodies, no logging, so every proxy in the
//! comparison talks to the same cheap, predictable upstream.
//!
//! Paths ending in `/1k` get a 1 KiB body; everything else gets a small one.
//! It binds `127.0.0.1:0` (or `--port N`) and prints `listening 127.0.0.1:PORT`
//! on stdout once it accepts connections. It runs until killed.
//!
//! `--certs DIR` also writes the test certificates (harness `TestCerts`)
//! into DIR and serves HTTPS (HTTP/1.1, the `server` certificate) on a
//! second port, printed as `tls 127.0.0.1:PORT`; `--h2c` serves HTTP/2 with
//! prior knowledge on another port, printed as `h2c 127.0.0.1:PORT`. Those
//! are the `direct` rows of the HTTPS and h2c benchmarks.

use bytes::Bytes;
use harness::certs::TestCerts;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// The small body: what a tiny JSON API answer looks like.
const SMALL: &[u8] = b"{\"ok\":true}\n";
/// The 1 KiB body.
static ONE_KIB: [u8; 1024] = [b'x'; 1024];

/// What to serve.
#[derive(Debug, Default, PartialEq)]
struct Options {
    port: u16,
    certs: Option<PathBuf>,
    h2c: bool,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1).collect()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "bench-upstream: {e}\nusage: bench-upstream [--port N] [--certs DIR] [--h2c]"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-upstream: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let mut options = Options::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--port" => {
                let n = it.next().ok_or("--port needs a port number")?;
                options.port = n
                    .parse()
                    .map_err(|_| format!("--port takes a port number, got `{n}`"))?;
            }
            "--certs" => options.certs = Some(it.next().ok_or("--certs needs a directory")?.into()),
            "--h2c" => options.h2c = true,
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    Ok(options)
}

fn tls_acceptor(dir: &std::path::Path) -> std::io::Result<TlsAcceptor> {
    let certs = TestCerts::generate(dir)?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(certs.server_chain(), certs.server_key_der())
        })
        .map_err(std::io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve(options: Options) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
    let mut lines = vec![format!("listening {}", listener.local_addr()?)];
    if let Some(dir) = &options.certs {
        let acceptor = tls_acceptor(dir)?;
        let tls = TcpListener::bind("127.0.0.1:0").await?;
        lines.push(format!("tls {}", tls.local_addr()?));
        tokio::spawn(serve_tls(tls, acceptor));
    }
    if options.h2c {
        let h2c = TcpListener::bind("127.0.0.1:0").await?;
        lines.push(format!("h2c {}", h2c.local_addr()?));
        tokio::spawn(serve_h2c(h2c));
    }
    {
        let mut out = std::io::stdout().lock();
        for line in lines {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(answer);
            // Errors here are clients going away; nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service_fn(answer))
                .await;
        });
    }
}

async fn serve_h2c(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body: &'static [u8] = if req.uri().path().ends_with("/1k") {
        &ONE_KIB
    } else {
        SMALL
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(SMALL)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags() {
        assert_eq!(parse_args(vec![]).unwrap(), Options::default());
        let o = parse_args(args("--port 8080 --certs /tmp/c --h2c")).unwrap();
        assert_eq!(
            (o.port, o.certs.as_deref(), o.h2c),
            (8080, Some(std::path::Path::new("/tmp/c")), true)
        );
        assert!(parse_args(args("--port x")).unwrap_err().contains("`x`"));
        assert!(parse_args(args("--certs"))
            .unwrap_err()
            .contains("directory"));
        assert!(parse_args(args("--tls")).unwrap_err().contains("`--tls`"));
    }
}
