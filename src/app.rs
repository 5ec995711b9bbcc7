//! Wiring, and only wiring: opens the store, builds the table, creates the bounded channels
//! and spawns the three stage tasks (upstream → state → publish) on one tracker; owns the
//! shutdown sequence (cancel, drain with a grace timeout, flush sled, say what was left).
//!
//! ```text
//!  Genesys Cloud ──wss──▶ upstream (decode inside) ──mpsc<Update>, board depth──▶ state
//!                                                                                  │ table + sled
//!                                           MQTT broker ◀── publish ◀──dirty set──┘
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::message::Durable;
use crate::metrics::Metrics;
use crate::monitor::Audit;
use crate::publish::{BrokerSettings, Publisher};
use crate::state::{Capacity, Shared, StateError, StateStage, Store, Table};
use crate::tls::{self, TlsError};
use crate::topics::Topics;
use crate::upstream::{
    rest::Rest, socket::SocketSettings, Checkpoints, Client, Settings, Upstream, Watch,
};
use crate::watchdog;
use crate::zones::{ZoneSpec, Zones};

/// How long stages get to finish after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// sled flushes its log this often: the most a power cut can lose before resync repairs it.
pub const SLED_FLUSH_MS: u64 = 500;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Config or board refused (exit 64).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state store could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// A TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A running gateway: handles for shutdown, tests and the demo view.
pub struct Running {
    /// Session counter of this boot.
    pub session: u32,
    /// The state table.
    pub shared: Shared,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Topic names.
    pub topics: Topics,
    db: crate::state::Disk,
    cancel: CancellationToken,
    /// The stage tasks (the watchdog counts these).
    tracker: TaskTracker,
    /// Tasks the stages spawn (socket readers, the MQTT connection driver).
    helpers: TaskTracker,
}

impl Running {
    /// Stops every stage, waits up to [`SHUTDOWN_GRACE`], flushes sled.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.helpers.close();
        let all = async {
            self.tracker.wait().await;
            self.helpers.wait().await;
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            tracing::warn!(
                stages = self.tracker.len(),
                helpers = self.helpers.len(),
                backlog = self.shared.lock().dirty_len(),
                "stages still running after the grace period"
            );
        }
        if let Err(e) = self.db.flush_async().await {
            tracing::error!(error = %e, "final sled flush failed");
        }
        tracing::info!(backlog = self.shared.lock().dirty_len(), "stopped");
    }
}

/// Runs the gateway until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    let running = start(config).await?;
    shutdown.await;
    running.stop().await;
    Ok(())
}

/// Starts every stage and returns at once.
pub async fn start(config: Config) -> Result<Running, AppError> {
    start_with_clock(config, Clock::monotonic()).await
}

/// [`start`] with the protocol timers (heartbeat watchdog, channel rotation, token refresh) on
/// `clock`: tests pass the simulator's clock so hours of channel life pass in simulated time.
pub async fn start_with_clock(config: Config, clock: Clock) -> Result<Running, AppError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    config.board.check_budget()?;
    let cap = &config.board.capacity;
    let metrics = Arc::new(Metrics::default());

    let (audit, audit_rx) = Audit::channel();
    let dir = &config.site.state_dir;
    // A disk full at boot does not keep the floor dark: start from memory, degraded, and let
    // storage upkeep open and rewrite the store once space returns (as when the disk fills
    // while running). Any other open error stops the start.
    let (disk, records, session, full_at_boot) = match Store::open(
        dir,
        cap.sled_cache_bytes,
        SLED_FLUSH_MS,
    ) {
        Ok((store, quarantined)) => {
            if quarantined {
                audit.record(
                    "store",
                    "state store was unreadable: quarantined, rebuilding via resync",
                );
            }
            (store.db, Some(store.records), store.session, false)
        }
        Err(StateError::Full { path, source }) => {
            tracing::error!(path = %path.display(), error = %source, "disk full at boot: starting from memory, the store is written once space returns");
            // The stored session counter cannot be read: a session from the clock (whole
            // seconds) still differs from every earlier boot's.
            let session = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| u32::try_from(d.as_secs()).ok())
                .unwrap_or(u32::MAX);
            let disk = crate::state::Disk::unopened(dir, cap.sled_cache_bytes, SLED_FLUSH_MS);
            (disk, None, session, true)
        }
        Err(e) => return Err(e.into()),
    };
    let specs: Vec<ZoneSpec> = config
        .zones
        .iter()
        .map(|z| ZoneSpec {
            name: z.name.as_str().to_string(),
            users: z.users.clone(),
            queues: z.queues.clone(),
            members_of_queues: z.members_of_queues,
            all_agents: z.implicit,
            waiting_warning: z.waiting_warning,
            waiting_critical: z.waiting_critical,
        })
        .collect();
    let zones = Arc::new(Zones::new(specs, &config.watch.queues));
    let mut table = Table::new(
        Capacity {
            agents: cap.max_agents,
            queues: cap.max_queues,
        },
        zones,
        records,
        metrics.clone(),
    );
    if full_at_boot {
        table.start_degraded("disk full at boot: starting from memory");
    } else {
        match disk.open_tree("heatmap") {
            Ok(tree) => table.set_heat_tree(tree),
            Err(e) => {
                tracing::warn!(error = %e, "heatmap tree unavailable: heatmaps kept in memory only")
            }
        }
    }
    table.set_stale_ttl(config.board.stale_ttl);
    let loaded = table.load();
    tracing::info!(session, loaded, "state loaded from sled");
    let shared = Shared::new(table);

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let helpers = TaskTracker::new();
    let (tx, rx) = mpsc::channel(cap.event_channel_depth);
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);

    let mqtt_tls = match &config.mqtt.tls {
        Some(t) => Some(tls::client_config(
            t.ca_file.as_deref(),
            t.client_auth
                .as_ref()
                .map(|c| (c.cert.as_path(), c.key.as_path())),
        )?),
        None => None,
    };
    let g = &config.genesys;
    let alarm_limits = crate::monitor::AlarmLimits {
        max_agents: cap.max_agents as u64,
        max_queues: cap.max_queues as u64,
        max_channels: g.max_channels_per_client as u64,
        topic_weight: (g.max_channels_per_client.saturating_sub(1).max(1)
            * g.max_topics_per_channel
            * g.clients.len()) as u64,
        rest_per_min: u64::from(g.rest_budget_per_min) * g.clients.len() as u64,
        event_depth: cap.event_channel_depth as u64,
    };
    let publisher = Publisher {
        alarm_limits,
        tasks: helpers.clone(),
        broker: BrokerSettings {
            host: config.mqtt.host.clone(),
            port: config.mqtt.port,
            client_id: config.mqtt.client_id.clone(),
            tls: mqtt_tls,
            credentials: match (&config.mqtt.username, &config.mqtt.password) {
                (Some(u), Some(p)) => Some((u.clone(), p.clone())),
                _ => None,
            },
            keep_alive: config.mqtt.keep_alive,
            inflight: cap.mqtt_inflight,
            request_depth: cap.mqtt_request_depth,
        },
        topics: topics.clone(),
        session,
        shared: shared.clone(),
        metrics: metrics.clone(),
        audit_rx,
        audit: audit.clone(),
        metrics_interval: config.mqtt.metrics_interval,
        db: Some(disk.clone()),
        republish_per_second: cap.republish_per_second,
        json: config.mqtt.json,
        site: config.site.id.clone(),
    };
    tracker.spawn(publisher.run(cancel.clone()));

    let (durable, acks) = watch::channel(Durable::default());
    tracker.spawn(
        StateStage {
            shared: shared.clone(),
            rx,
            disk: Some(disk.clone()),
            durable,
            // The storage upkeep shares the metrics interval: its flush is how a failed
            // background flush is seen, and the metrics document shows the outcome.
            upkeep_every: config.mqtt.metrics_interval,
            audit: audit.clone(),
        }
        .run(cancel.clone()),
    );

    let g = &config.genesys;
    let upstream_tls = tls::client_config(g.ca_file.as_deref(), None)?;
    let upstream = Upstream {
        settings: Settings {
            socket: SocketSettings {
                max_message: cap.ws_max_message_bytes,
                max_frame: cap.ws_max_frame_bytes,
                heartbeat_timeout: g.heartbeat_timeout,
                ping_interval: g.ping_interval,
                pong_timeout: g.pong_timeout,
                clock: clock.clone(),
            },
            token_refresh_fraction: g.token_refresh_fraction,
            rotate_before: g.channel_rotate_before,
            backoff_min: g.backoff_min,
            backoff_max: g.backoff_max,
            max_topics: g.max_topics_per_channel,
            max_channels: g.max_channels_per_client,
            user_topic_weight: g.user_topic_weight,
            max_agents: config.watch.max_agents,
            group_refresh: g.group_refresh,
            queue_figures: g.queue_figures,
        },
        clients: g
            .clients
            .iter()
            .map(|c| Client {
                name: c.name.clone(),
                rest: Rest::new(
                    upstream_tls.clone(),
                    g.api_base.as_str(),
                    g.login_base.as_str(),
                    c.id.clone(),
                    c.secret.clone(),
                    g.rest_budget_per_min,
                    cap.rest_max_body_bytes,
                    g.rest_timeout,
                    metrics.clone(),
                    clock.clone(),
                ),
            })
            .collect(),
        next_read: Default::default(),
        tls: upstream_tls,
        watch: Watch {
            users: config.watch.users.clone(),
            queues: config.watch.queues.clone(),
            groups: config.watch.groups.clone(),
        },
        tx,
        metrics: metrics.clone(),
        audit,
        agents: None,
        token_refresh_at: None,
        clock,
        checkpoints: Checkpoints::new(acks),
        tasks: helpers.clone(),
        cancel: cancel.clone(),
        membership: Default::default(),
    };
    tracker.spawn(upstream.run(cancel.clone()));
    // Last: it counts the stages spawned above.
    tracker.spawn(watchdog::run(
        &tracker,
        shared.clone(),
        metrics.clone(),
        cancel.clone(),
    ));

    Ok(Running {
        session,
        shared,
        metrics,
        topics,
        db: disk,
        cancel,
        tracker,
        helpers,
    })
}
