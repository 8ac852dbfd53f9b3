//! `bench-upstream`: the origin server of `cargo xtask bench`. One thread,
//! HTTP/1.1 keep-alive, fixed bodies, no logging, so every proxy in the
//! comparison talks to the same cheap, predictable upstream.
//!
//! Paths ending in `/1k` get a 1 KiB body; everything else gets a small one.
//! It binds `127.0.0.1:0` (or `--port N`) and prints `listening 127.0.0.1:PORT`
//! on stdout once it accepts connections. It runs until killed.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use std::process::ExitCode;
use tokio::net::TcpListener;

/// The small body: what a tiny JSON API answer looks like.
const SMALL: &[u8] = b"{\"ok\":true}\n";
/// The 1 KiB body.
static ONE_KIB: [u8; 1024] = [b'x'; 1024];

fn main() -> ExitCode {
    let port = match parse_port(std::env::args().skip(1).collect()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench-upstream: {e}\nusage: bench-upstream [--port N]");
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
    match runtime.block_on(serve(port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_port(args: Vec<String>) -> Result<u16, String> {
    match args.as_slice() {
        [] => Ok(0),
        [flag, n] if flag == "--port" => n
            .parse()
            .map_err(|_| format!("--port takes a port number, got `{n}`")),
        other => Err(format!("unexpected arguments {other:?}")),
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {addr}")?;
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
