//! An embedded rumqttd MQTT broker on a free loopback port, for the demo and the tests.
//! `Broker::start` blocks forever, so it lives on its own std thread; there is no shutdown
//! (process exit ends it).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// How long to wait for the broker's port to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running embedded broker.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddedBroker {
    /// Its loopback port (MQTT over TCP).
    pub port: u16,
    /// Its MQTT-over-WebSockets loopback port (for the browser wallboard).
    pub ws_port: u16,
}

/// A free loopback port that no other caller in this process has been given. A port found by
/// binding port 0 is free only until its listener is dropped: two brokers started at the same
/// time (parallel tests) could otherwise both be handed it, one would fail to listen, and
/// both sides would talk to the other one's broker.
pub fn free_port() -> Result<u16, String> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..64 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    Err("no loopback port left that this process has not used".into())
}

/// Starts a broker on a free loopback port and waits until it accepts connections.
pub fn start() -> Result<EmbeddedBroker, String> {
    let port = free_port()?;
    let ws_port = free_port()?;
    let listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    let settings = |name: &str, listen| ServerSettings {
        name: name.into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 20_480,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let server = settings("v4-1", listen);
    let ws = settings("ws-1", SocketAddr::from(([127, 0, 0, 1], ws_port)));
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 200,
            max_segment_size: 1 << 20,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ws: Some(HashMap::from([("1".to_string(), ws)])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("embedded broker stopped: {e}");
            }
        })
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + READY_TIMEOUT;
    while TcpStream::connect(listen).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "broker on {listen} not ready after {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let ws_listen = SocketAddr::from(([127, 0, 0, 1], ws_port));
    while TcpStream::connect(ws_listen).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "broker WebSocket listener on {ws_listen} not ready after {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(EmbeddedBroker { port, ws_port })
}
