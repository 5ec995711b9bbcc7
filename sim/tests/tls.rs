//! `SimConfig::tls`: the generated test CA is the only thing a client has to trust. A rustls client (ring
//! provider, only that CA in its root store) completes OAuth over https and receives an event over wss; a
//! client trusting only the public webpki roots is refused with `UnknownIssuer` on both ports.
//!
//! Owns: the TLS tests and their tiny https client; the plain-text protocol is covered by the other files.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use genesys_sim::{Sim, SimConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

async fn tls_sim() -> Sim {
    Sim::start(SimConfig {
        agents: 10,
        queues: 2,
        tls: true,
        ..SimConfig::default()
    })
    .await
    .expect("sim starts with TLS")
}

fn client(roots: RootCertStore) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A connector whose root store holds only the sim's CA.
fn trusting(sim: &Sim) -> TlsConnector {
    let pem = sim.ca_pem().expect("TLS sim has a CA");
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(pem.as_bytes()).expect("CA PEM parses");
    roots.add(ca).expect("CA accepted as a root");
    client(roots)
}

/// A connector that trusts the public web PKI only.
fn public_roots() -> TlsConnector {
    client(RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
}

/// `scheme://host:port/...` → `host:port`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").expect("scheme").1;
    rest.split('/').next().expect("authority")
}

/// One HTTP/1.1 request over TLS with `Connection: close`; returns (status, body).
async fn https(
    tls: &TlsConnector,
    name: &str,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let host = authority(base);
    let tcp = TcpStream::connect(host).await.expect("tcp connect");
    let server = ServerName::try_from(name.to_owned()).expect("server name");
    let mut stream = tls.connect(server, tcp).await.expect("TLS handshake");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf8");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

fn is_unknown_issuer(e: &std::io::Error) -> bool {
    matches!(
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        ))
    )
}

#[tokio::test]
async fn oauth_over_https_and_an_event_over_wss_with_only_the_sim_ca_trusted() {
    let sim = tls_sim().await;
    assert!(sim.api_base().starts_with("https://127.0.0.1:"));
    assert!(sim.ws_base().starts_with("wss://127.0.0.1:"));
    let tls = trusting(&sim);
    let base = sim.api_base();

    // OAuth over https, verifying the DNS SAN ("localhost").
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode("sim-client:sim-secret")
    };
    let (status, body) = https(
        &tls,
        "localhost",
        &base,
        "POST",
        "/oauth/token",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).expect("token JSON");
    let bearer = format!("bearer {}", token["access_token"].as_str().expect("token"));

    // Channel + subscription over https, verifying the IP SAN.
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, body) = https(
        &tls,
        "127.0.0.1",
        &base,
        "POST",
        "/api/v2/notifications/channels",
        &auth,
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let channel: Value = serde_json::from_str(&body).expect("channel JSON");
    let id = channel["id"].as_str().expect("id");
    let connect_uri = channel["connectUri"].as_str().expect("connectUri");
    assert!(connect_uri.starts_with("wss://127.0.0.1:"), "{connect_uri}");
    let user = sim.users()[0].clone();
    let topics = json!([{ "id": format!("v2.users.{user}?presence&routingStatus") }]).to_string();
    let (status, body) = https(
        &tls,
        "127.0.0.1",
        &base,
        "PUT",
        &format!("/api/v2/notifications/channels/{id}/subscriptions"),
        &auth,
        &topics,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The WebSocket over wss at the returned connectUri.
    let tcp = TcpStream::connect(authority(connect_uri))
        .await
        .expect("tcp connect");
    let server = ServerName::try_from("127.0.0.1").expect("ip name");
    let stream = tls.connect(server, tcp).await.expect("wss TLS handshake");
    let (mut ws, _) = tokio_tungstenite::client_async(connect_uri, stream)
        .await
        .expect("wss handshake");
    sim.set_routing(&user, "OFF_QUEUE");
    sim.set_routing(&user, "IDLE");
    let frame = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON frame");
                    if v["topicName"] != "channel.metadata" {
                        return v;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("an event arrives over wss");
    assert_eq!(
        frame["topicName"],
        format!("v2.users.{user}.routingStatus"),
        "{frame}"
    );
    // Ping/pong works over TLS too.
    ws.send(Message::text(r#"{"message":"ping"}"#))
        .await
        .expect("send ping");
    let pong = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Ok(Message::Text(t))) = ws.next().await {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                if v["eventBody"]["message"] == "pong" {
                    return v;
                }
            }
        }
    })
    .await
    .expect("pong");
    assert_eq!(pong["topicName"], "channel.metadata");
}

#[tokio::test]
async fn a_client_trusting_only_public_roots_is_refused_with_unknown_issuer() {
    let sim = tls_sim().await;
    let public = public_roots();
    for (base, name) in [(sim.api_base(), "localhost"), (sim.ws_base(), "127.0.0.1")] {
        let tcp = TcpStream::connect(authority(&base))
            .await
            .expect("tcp connect");
        let server = ServerName::try_from(name.to_owned()).expect("name");
        let err = public
            .connect(server, tcp)
            .await
            .expect_err("the sim's CA is not a public root");
        assert!(is_unknown_issuer(&err), "{base}: {err:?}");
    }
    // The same sim still serves a client that trusts its CA.
    let tcp = TcpStream::connect(authority(&sim.api_base()))
        .await
        .expect("tcp connect");
    trusting(&sim)
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("trusted handshake");
}

#[tokio::test]
async fn plain_sims_have_no_ca() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    assert!(sim.ca_pem().is_none());
    assert!(sim.api_base().starts_with("http://"));
    assert!(sim.ws_base().starts_with("ws://"));
}
