//! The browser wallboard (`displays/web/`) served by the demo: the page's four files embedded in
//! the binary, served over plain HTTP on loopback, so `presence-gateway demo` shows the web
//! wallboard in the user's own browser with no install. Owns only that tiny static server
//! (GET of a known path → its bytes, anything else → 404); the page talks MQTT to the embedded
//! broker's WebSocket listener itself.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The page's files: path, content type, bytes.
const FILES: [(&str, &str, &[u8]); 4] = [
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../displays/web/index.html"),
    ),
    (
        "/wallboard.bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../displays/web/wallboard.bundle.js"),
    ),
    (
        "/wallboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../../displays/web/wallboard.css"),
    ),
    (
        "/vendor/mqtt.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../displays/web/vendor/mqtt.min.js"),
    ),
];

/// Longest request head read (a browser's GET with its headers fits easily).
const MAX_HEAD: usize = 8 * 1024;

/// The response to `GET path` (the query string ignored): the file, or 404.
fn respond(path: &str) -> Vec<u8> {
    let path = path.split('?').next().unwrap_or("/");
    let path = if path == "/" { "/index.html" } else { path };
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, body)) => {
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(body);
            out
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    }
}

/// Serves the page on `127.0.0.1:port` (0: any free port) until the process ends; returns the
/// address it listens on.
pub async fn serve(port: u16) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut head = Vec::with_capacity(1024);
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
                let line = String::from_utf8_lossy(line);
                let mut words = line.split(' ');
                let reply = match (words.next(), words.next()) {
                    (Some("GET"), Some(path)) => respond(path),
                    _ => b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = sock.write_all(&reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(addr)
}

/// The wallboard's address for `site` and `zone`, served at `page`, talking to the broker's
/// WebSocket listener on `ws_port`.
pub fn url(page: SocketAddr, ws_port: u16, site: &str, zone: &str) -> String {
    format!("http://{page}/?broker=ws://127.0.0.1:{ws_port}&site={site}&zone={zone}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_are_served_and_others_are_not() {
        let page = respond("/?broker=ws://127.0.0.1:1&site=demo");
        assert!(page.starts_with(b"HTTP/1.1 200 OK\r\nContent-Type: text/html"));
        assert!(String::from_utf8_lossy(&page).contains("wallboard.bundle.js"));
        assert!(respond("/vendor/mqtt.min.js").starts_with(b"HTTP/1.1 200 OK"));
        assert!(respond("/../Cargo.toml").starts_with(b"HTTP/1.1 404"));
        assert!(respond("/wire.js").starts_with(b"HTTP/1.1 404"));
    }
}
