//! The MQTT link: broker settings (TLS, credentials, last will) and the task that drives
//! rumqttc's event loop, reporting the connection as [`Link`] and counting acknowledgements,
//! refused connections and commands. Does not own what is published (the publish loop).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS, Transport};
use tokio::sync::{mpsc, watch};

use super::{Publisher, Received};

/// Pause between broker reconnect attempts (rumqttc reconnects on the next poll).
pub(super) const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Largest MQTT packet accepted or sent: frames are < 64 B, monitor docs < 2 KiB.
pub(super) const MAX_PACKET: usize = 16 * 1024;

/// Broker connection settings, resolved from config.
#[derive(Clone)]
pub struct BrokerSettings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id.
    pub client_id: String,
    /// TLS (verified) when set.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Username and password.
    pub credentials: Option<(String, crate::config::Secret)>,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// In-flight QoS 1 window.
    pub inflight: u16,
    /// rumqttc request queue depth.
    pub request_depth: usize,
}

impl std::fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("tls", &self.tls.is_some())
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

/// Connection events from the event-loop driver.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Link {
    Down,
    Up(u64),
}

impl Publisher {
    pub(super) fn connect(
        &self,
        commands: mpsc::Sender<Received>,
    ) -> (AsyncClient, watch::Receiver<Link>) {
        let b = &self.broker;
        let mut opts = MqttOptions::new(&b.client_id, &b.host, b.port);
        opts.set_keep_alive(b.keep_alive)
            .set_clean_session(true)
            .set_inflight(b.inflight)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_last_will(LastWill::new(
                self.topics.state(),
                "lost",
                QoS::AtLeastOnce,
                true,
            ));
        if let Some((user, pass)) = &b.credentials {
            opts.set_credentials(user, pass.expose());
        }
        if let Some(tls) = &b.tls {
            opts.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.clone()),
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(opts, b.request_depth);
        let (tx, rx) = watch::channel(Link::Down);
        let metrics = self.metrics.clone();
        let audit = self.audit.clone();
        let cmd_topic = self.topics.cmd();
        self.tasks.spawn(async move {
            let mut connects = 0u64;
            let mut up = false;
            loop {
                match eventloop.poll().await {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                        connects += 1;
                        up = true;
                        metrics.publish.connects.inc();
                        metrics.publish.connected.set(1);
                        if tx.send(Link::Up(connects)).is_err() {
                            break;
                        }
                    }
                    Ok(MqttEvent::Incoming(Packet::PubAck(_))) => metrics.publish.acked.inc(),
                    Ok(MqttEvent::Incoming(Packet::Publish(p))) if p.topic == cmd_topic => {
                        metrics.publish.commands.inc();
                        if commands.try_send((Instant::now(), p.payload)).is_err() {
                            // Full: the sender gets no answer; the refusal is counted.
                            metrics.publish.commands_refused.inc();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if up {
                            up = false;
                            metrics.publish.disconnects.inc();
                            metrics.publish.connected.set(0);
                            audit.record("broker", &format!("connection lost: {e}"));
                        } else {
                            metrics.publish.connect_failures.inc();
                            tracing::debug!(error = %e, "broker not reachable");
                        }
                        if tx.send(Link::Down).is_err() {
                            break;
                        }
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                    }
                }
            }
        });
        (client, rx)
    }
}
