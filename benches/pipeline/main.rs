//! The gateway benchmark harness (issue 7): simulator → gateway → broker → display, measured
//! end to end, printed as one table. `cargo bench --bench pipeline` (full run, ~1 h on 2
//! cores) or `cargo bench --bench pipeline -- --quick` (the CI smoke, ~2 min after the build).
//!
//! The gateway under test is the real binary (`presence-gateway run --config site.toml`, the
//! bench profile = the release profile), a child process pinned to core 0 with `taskset`, so
//! its RSS and CPU time are its own. Everything else lives in this process, pinned to core 1:
//! the simulated Genesys Cloud org (ground truth), the embedded rumqttd broker (mosquitto, a
//! child on core 1, when it is on PATH), a display subscriber that decodes every frame as a
//! display would, and a probe that reads the gateway's metrics and audit documents and times
//! frames. The micro-bench and the sled probe are child processes of this binary
//! (`--micro`, `--sled-probe`), so callgrind and `/proc` see only them.
//!
//! Throughput and the soak run on a replayed load (issue 16 point 1): the simulator records
//! the events first (`Sim::record`: the JSON is built and the truth moved, nothing sent), then
//! the frames are delivered as fast as the gateway reads them, one queue push each, so the
//! figure is the gateway's; the throughput figure is per gateway core, from its CPU time.
//!
//! Options (after `--`): `--quick` (smoke: 1,000 agents, one run each, short soak),
//! `--runs=N`, `--agents=N`, `--queues=N`, `--soak-secs=N`, `--soak-events=N`,
//! `--throughput-events=N`, `--no-mosquitto`, `--json-mirror` (gateways publish the JSON
//! mirror too), `--board=NAME|PATH` (the gateway's board), `--out=DIR` (plots and `results.md`; default
//! `docs/bench` for a full run, `target/bench-pipeline` for `--quick`). `BENCH_QUICK=1` is the
//! same as `--quick`.
//!
//! # Layout
//! - `main.rs`: options, the order of the sessions, the table.
//! - `rig.rs`: simulator, brokers, the gateway process, probe, drivers, truth comparison.
//! - `micro.rs`: corpus capture, micro-bench and sled-probe children, frame sizes.
//! - `machine.rs`: `/proc` readers, machine description, median/min–max.
//! - `plot.rs`: SVG plots.

mod machine;
mod micro;
mod plot;
mod rig;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use genesys_sim::{Fault, Sim};
use machine::{mib, thousands, Series};
use presence_gateway::display::Subscriber;
use rig::{BrokerKind, Gateway, Probe, Site};

/// Events per second of the latency runs (the issue's load).
const LATENCY_RATE: f64 = 2_000.0;
/// Of which scripted, timed presence changes (end-to-end probes).
const PROBE_RATE: f64 = 200.0;
/// Events per second of the peak-RSS runs (the issue's load).
const RSS_RATE: f64 = 20_000.0;
/// Most writes the sled probe replays (bounds its run time to about 15 s).
const SLED_WRITES_MAX: u64 = 2_000_000;
/// Genesys' REST limit per token: the request floor is requests / (this rate × OAuth clients).
const REST_PER_SEC: f64 = 300.0 / 60.0;

#[derive(Clone, Debug)]
struct Opts {
    quick: bool,
    runs: usize,
    agents: usize,
    queues: usize,
    small_agents: usize,
    small_queues: usize,
    metrics_secs: u64,
    hwm_secs: u64,
    throughput_events: u64,
    soak_secs: u64,
    soak_events: u64,
    resync_runs: usize,
    resync_runs_big: usize,
    /// REST silence that makes the simulator's rate-limit window fresh before a resync run.
    rest_quiet: Duration,
    mosquitto: bool,
    corpus: usize,
    micro: (usize, usize),
    out: PathBuf,
    /// `--only=micro,a,h,m,r,z,p`: run only these phases (default: all of the mode; `p`, the
    /// heap profile, only when named).
    only: Option<Vec<String>>,
    /// Phase `p`: events driven under the profiler, and their rate per second.
    profile_events: u64,
    profile_rate: f64,
    /// `--board=NAME|PATH`: the gateway's board for every org (default: `rpi4` up to 10,000
    /// agents, `x86_64` above), e.g. a copy of `board/rpi4.toml` with another sled cache.
    board: Option<String>,
    /// The command line, for the table.
    cmdline: String,
}

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut o = if quick {
            Opts {
                quick,
                runs: 1,
                agents: 1_000,
                queues: 50,
                small_agents: 1_000,
                small_queues: 50,
                metrics_secs: 4,
                hwm_secs: 8,
                throughput_events: 100_000,
                soak_secs: 20,
                soak_events: u64::MAX,
                resync_runs: 1,
                resync_runs_big: 1,
                rest_quiet: Duration::from_secs(10),
                mosquitto: false,
                corpus: 6_000,
                micro: (1_000, 5_000),
                out: manifest.join("target/bench-pipeline"),
                only: None,
                profile_events: 200_000,
                profile_rate: 2_000.0,
                board: None,
                cmdline: String::new(),
            }
        } else {
            Opts {
                quick,
                runs: 3,
                agents: 10_000,
                queues: 500,
                small_agents: 1_000,
                small_queues: 50,
                metrics_secs: 10,
                hwm_secs: 30,
                throughput_events: 500_000,
                soak_secs: 540,
                soak_events: 50_000_000,
                resync_runs: 3,
                resync_runs_big: 1,
                rest_quiet: Duration::from_secs(61),
                mosquitto: machine::on_path("mosquitto"),
                corpus: 14_000,
                micro: (2_000, 12_000),
                out: manifest.join("docs/bench"),
                only: None,
                profile_events: 200_000,
                profile_rate: 2_000.0,
                board: None,
                cmdline: String::new(),
            }
        };
        let given: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "--bench")
            .collect();
        o.cmdline = if given.is_empty() {
            "cargo bench --bench pipeline".into()
        } else {
            format!("cargo bench --bench pipeline -- {}", given.join(" "))
        };
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                if a == "--no-mosquitto" {
                    o.mosquitto = false;
                }
                if a == "--json-mirror" {
                    rig::JSON_MIRROR.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                continue;
            };
            let num = || v.replace('_', "").parse::<u64>().ok();
            match k {
                "--runs" => o.runs = num().map_or(o.runs, |n| n.max(1) as usize),
                "--agents" => o.agents = num().map_or(o.agents, |n| n as usize),
                "--queues" => o.queues = num().map_or(o.queues, |n| n as usize),
                "--soak-secs" => o.soak_secs = num().unwrap_or(o.soak_secs),
                "--soak-events" => o.soak_events = num().unwrap_or(o.soak_events),
                "--throughput-events" => o.throughput_events = num().unwrap_or(o.throughput_events),
                "--resync-runs" => o.resync_runs = num().map_or(o.resync_runs, |n| n as usize),
                "--out" => o.out = PathBuf::from(v),
                "--board" => o.board = Some(v.to_string()),
                "--only" => o.only = Some(v.split(',').map(str::to_string).collect()),
                "--profile-events" => o.profile_events = num().unwrap_or(o.profile_events),
                "--profile-rate" => o.profile_rate = num().map_or(o.profile_rate, |n| n as f64),
                _ => {}
            }
        }
        o
    }

    /// Whether phase `p` runs: `micro` (corpus, sizes, micro-bench), `a` (the big org on
    /// rumqttd: resync, latency, peak RSS, throughput, soak, sled, boots), `h` (another peak-RSS
    /// process), `m` (mosquitto), `r` (resync of the small org), `z` (zone membership).
    fn phase(&self, p: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == p))
    }

    /// The board whose capacities fit the org (rpi4: 10,000 agents, 500 queues).
    fn board(&self, agents: usize) -> &str {
        if let Some(b) = &self.board {
            b
        } else if agents <= 10_000 {
            "rpi4"
        } else {
            "x86_64"
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--micro") if args.len() >= 4 => {
            let n = args[2].parse().expect("event count");
            let stage = args.get(4).map_or("full", String::as_str);
            micro::micro_child(Path::new(&args[1]), n, Path::new(&args[3]), stage);
            return;
        }
        Some("--checkpoint-probe") if args.len() >= 4 => {
            let n = args[2].parse().expect("record count");
            micro::checkpoint_child(Path::new(&args[1]), n, args[3] == "1");
            return;
        }
        Some("--sled-probe") if args.len() >= 3 => {
            let n = args[2].parse().expect("write count");
            let cache = args
                .get(3)
                .and_then(|c| c.parse().ok())
                .unwrap_or(micro::SLED_CACHE);
            micro::sled_child(Path::new(&args[1]), n, cache);
            return;
        }
        _ => {}
    }
    // `cargo bench` passes `--bench`, and a bare word is a filter: skip unless it matches.
    if let Some(filter) = args.iter().find(|a| !a.starts_with('-')) {
        if !"pipeline".contains(filter.as_str()) {
            return;
        }
    }
    // The simulator's recording (the replayed load) builds its JSON through many small
    // allocations; glibc's per-thread cache of 7 chunks per size sends most of them to the
    // slow path (perf: ~45 % of the recording in malloc/free). A larger cache makes recording
    // ~30 % faster. glibc reads it only at start, so the bench starts itself again with it;
    // every child (the gateway above all) is started without it (`machine::plain_env`).
    if std::env::var_os("GLIBC_TUNABLES").is_none() && std::env::var_os(machine::TUNED).is_none() {
        if let Ok(exe) = std::env::current_exe() {
            let status = std::process::Command::new(exe)
                .args(&args)
                .env("GLIBC_TUNABLES", "glibc.malloc.tcache_count=4096")
                .env(machine::TUNED, "1")
                .status();
            std::process::exit(status.map_or(1, |s| s.code().unwrap_or(1)));
        }
    }
    let opts = Opts::parse(&args);
    // This process (and every thread and child it starts from now on) on the last core; the
    // gateway gets core 0 through taskset.
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let pinned = cores.len() >= 2 && core_affinity::set_for_current(cores[cores.len() - 1]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("bench runtime");
    let started = Instant::now();
    let report = rt.block_on(run(&opts, pinned));
    println!("{report}");
    println!("bench finished in {:.0} s", started.elapsed().as_secs_f64());
    // rumqttd threads have no shutdown: leave without waiting for them.
    std::process::exit(0);
}

/// One gateway process and everything around it.
struct Session {
    sim: Sim,
    site: Site,
    view: Subscriber,
    probe: Probe,
    gw: Option<Gateway>,
    log: PathBuf,
    agents: usize,
}

impl Session {
    async fn open(
        sim: &Sim,
        broker: &rig::Broker,
        dir: &Path,
        state: &Path,
        board: &str,
        metrics_secs: u64,
    ) -> Session {
        let site = rig::write_site(sim, broker, dir, state, board, metrics_secs);
        let view = Subscriber::start(broker.addr(), &site.topics, "all");
        let probe = Probe::start(broker.addr(), &site.topics);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let logs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-pipeline/logs");
        let _ = std::fs::create_dir_all(&logs);
        Session {
            sim: sim.clone(),
            log: logs.join(format!("gateway-{}.log", fastrand::u32(..))),
            site,
            view,
            probe,
            gw: None,
            agents: sim.users().len(),
        }
    }

    fn gw(&mut self) -> &mut Gateway {
        self.gw.as_mut().expect("a running gateway")
    }

    /// Starts the gateway and waits until it has resynced and the display is exact: the time
    /// from process start to an exact view.
    async fn start_synced(&mut self, timeout: Duration) -> Result<Duration, String> {
        let before = self.probe.lock().audit_count("resync");
        self.gw = Some(Gateway::spawn(&self.site, &self.sim, &self.log));
        if self
            .probe
            .audit("resync", before + 1, timeout)
            .await
            .is_none()
        {
            return Err(format!(
                "no resync within {timeout:?}; gateway log:\n{}",
                self.gw().log_tail(20)
            ));
        }
        rig::converge(&self.sim, &self.view, Duration::from_secs(300))
            .await
            .map_err(|d| format!("display not exact after the first resync: {d:?}"))?;
        Ok(self.gw().started.elapsed())
    }

    fn stop(&mut self) {
        if let Some(mut g) = self.gw.take() {
            g.stop();
        }
    }
}

/// Every figure of one run of the bench.
#[derive(Default)]
struct Figures {
    /// broker → (events/s, gateway CPU share, gateway CPU µs per event, exact, detail).
    throughput: Vec<(BrokerKind, Series, Series, Series, bool, String)>,
    /// broker → internal (p50, p99, p999, max, samples) and end-to-end samples.
    latency: Vec<(BrokerKind, [Series; 4], Vec<u32>, Series)>,
    hwm_kib: Series,
    rss_at_rate: Series,
    /// VmRSS by kind at the end of each 20 k/s run.
    rss_split: Vec<machine::RssSplit>,
    sled_share_kib: Series,
    sled_note: String,
    soak: Option<Soak>,
    micro: Option<Result<micro::MicroResult, String>>,
    /// The checkpoint after a resync: (agents, flush ns, flush instructions).
    checkpoint: Vec<(u32, micro::CheckpointCost)>,
    boot_first_ms: Series,
    boot_all_ms: Series,
    boot_agents: usize,
    /// Queue join/leave → the zone's tiles and roster at the display, ms per change.
    membership_ms: Series,
    /// (agents, label, time, floor, requests, presence and routing exact after).
    resync: Vec<(usize, String, Series, Series, Series, Series)>,
    stages: Vec<(micro::Stage, micro::MicroResult)>,
    cold_sync_s: Vec<(usize, BrokerKind, f64)>,
    sizes: micro::Sizes,
    firmware: Option<Firmware>,
    notes: Vec<String>,
}

/// The stripped aarch64 firmware file the bench finds (it does not build it: `.ci/run` step h
/// does), and whether it predates the gateway's sources (then its size is not this commit's).
struct Firmware {
    bytes: u64,
    stale: bool,
}

impl Firmware {
    const PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/aarch64-unknown-linux-musl/release/presence-gateway"
    );

    fn find() -> Option<Firmware> {
        let meta = std::fs::metadata(Self::PATH).ok()?;
        let built = meta.modified().ok()?;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let sources = ["src", "wire", "board", "Cargo.toml", "Cargo.lock"]
            .iter()
            .filter_map(|p| newest_change(&root.join(p)))
            .max();
        Some(Firmware {
            bytes: meta.len(),
            stale: sources.is_some_and(|s| s > built),
        })
    }
}

/// The newest modification time of `path` or of any file under it.
fn newest_change(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest_change(&e.path()))
        .max()
}

struct Soak {
    events: u64,
    secs: f64,
    exact: bool,
    /// (events in millions, RSS MiB) samples.
    samples: Vec<(f64, f64)>,
    warm_kib: f64,
    end_kib: f64,
    max_kib: f64,
    /// Least-squares slope of RSS over events after the first tenth, KiB per 10 M events.
    slope_kib_per_10m: f64,
    /// Lowest RSS after the first tenth, KiB (the swing is max − min).
    min_kib: f64,
    /// Seconds the simulator spent recording ahead of delivery (not in `secs`).
    recorded_secs: f64,
    /// The gateway's CPU time over the soak per event, µs.
    cpu_us: f64,
}

/// Least-squares slope of `y` over `x`; 0 for fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), p| {
        (a + (p.0 - mx) * (p.1 - my), b + (p.0 - mx) * (p.0 - mx))
    });
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

async fn run(o: &Opts, pinned: bool) -> String {
    let work = tempfile::tempdir().expect("work dir");
    let w = work.path();
    std::fs::create_dir_all(&o.out).expect("output dir");
    let mut f = Figures::default();
    let mut head = String::new();
    let _ = writeln!(head, "machine: {}", machine::describe());
    let _ = writeln!(
        head,
        "load average at start: {}; gateway {}; bench process {}",
        machine::load(),
        if rig::can_pin() {
            "pinned to core 0 (taskset -c 0)"
        } else {
            "NOT pinned (needs 2 cores and taskset)"
        },
        if pinned {
            "pinned to the last core"
        } else {
            "not pinned"
        }
    );
    let _ = writeln!(
        head,
        "gateway binary: {}{}",
        rig::gateway_exe(),
        if std::env::var_os("BENCH_GATEWAY_EXE").is_some() {
            " (BENCH_GATEWAY_EXE)"
        } else {
            " (built by cargo for this bench: host target, default features)"
        }
    );
    let _ = writeln!(
        head,
        "mode: {}; org {} agents + {} queues (board {}); {} run(s) per figure",
        if o.quick {
            "--quick (CI smoke)"
        } else {
            "full"
        },
        o.agents,
        o.queues,
        o.board(o.agents),
        o.runs
    );
    eprint!("{head}");

    // --- 1. without a gateway: corpus, sizes, micro-bench ----------------------------------
    if o.phase("micro") {
        eprintln!(
            "[corpus] capturing {} notifications from the simulator",
            o.corpus
        );
        let corpus = micro::capture(1_000, 50, o.corpus).await;
        // Kept under target/ so the micro-bench can be rerun by hand (`pipeline --micro …`).
        let keep = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-pipeline");
        let _ = std::fs::create_dir_all(&keep);
        let corpus_file = keep.join("corpus.jsonl");
        std::fs::write(&corpus_file, corpus.join("\n")).expect("corpus file");
        f.sizes = micro::sizes(&corpus);
        eprintln!("[micro] callgrind: {} and {} events", o.micro.0, o.micro.1);
        let n = (o.micro.0.min(corpus.len() / 2), o.micro.1.min(corpus.len()));
        f.micro = Some(micro::instructions_per_event(
            &corpus_file,
            n.0,
            n.1,
            w,
            micro::Stage::Full,
        ));
        if !o.quick {
            // The profile by subtraction: each stage's share of the instructions.
            for stage in &micro::Stage::ALL[..3] {
                eprintln!("[micro] stage {}", stage.name());
                if let Ok(r) = micro::instructions_per_event(&corpus_file, n.0, n.1, w, *stage) {
                    f.stages.push((*stage, r));
                }
            }
        }
        drop(corpus);
        // The durability point every resync ends with: one flush of what it wrote.
        for records in [1_000u32, 10_500] {
            eprintln!("[micro] checkpoint after a resync of {records} records");
            let cost = micro::checkpoint_cost(records, if o.quick { 1 } else { 3 }, w);
            f.checkpoint.push((records, cost));
        }
    }
    f.firmware = Firmware::find();

    // --- 2. session A: the big org on rumqttd, cold ------------------------------------------
    let rumqttd = rig::Broker::embedded();
    let board = o.board(o.agents);
    if o.phase("a") {
        let big = Sim::start(rig::sim_config(o.agents, o.queues, 1))
            .await
            .expect("simulator");
        let state_a = w.join("state-a");
        let mut a = Session::open(&big, &rumqttd, w, &state_a, board, o.metrics_secs).await;
        eprintln!(
            "[A] cold start: {} agents, {} queues, rumqttd",
            o.agents, o.queues
        );
        match a.start_synced(Duration::from_secs(1200)).await {
            Ok(d) => {
                f.cold_sync_s
                    .push((o.agents, BrokerKind::Rumqttd, d.as_secs_f64()));
                // The next metrics document: a fast cold start can beat the first one.
                let m = a
                    .probe
                    .next_metrics(Duration::from_secs(30))
                    .await
                    .map(|m| m.1);
                let get = |k: &str| m.as_ref().and_then(|m| m[k].as_u64()).unwrap_or(0);
                f.notes.push(format!(
                    "session A on Genesys' limits: {} OAuth client(s), {} channels (busiest \
                     client {} of 20), {} topics refused, {} channels evicted by the simulator, \
                     {} socket connects",
                    get("clients"),
                    get("channels"),
                    get("channels_busiest_client"),
                    get("subscriptions_refused"),
                    big.stats().channels_evicted,
                    get("reconnects"),
                ));
            }
            Err(e) => {
                f.notes.push(format!("session A did not start: {e}"));
                return table(o, &head, &f);
            }
        }
        // Resync first, while no agent has an open conversation (see BENCHMARKS.md).
        resync_runs(o, &mut a, o.resync_runs_big, "idle org", 0, &mut f).await;
        latency_runs(o, &mut a, BrokerKind::Rumqttd, o.runs, &mut f).await;
        hwm_run(o, &mut a, &mut f).await;
        throughput_runs(o, &mut a, BrokerKind::Rumqttd, o.runs, &mut f).await;
        soak(o, &mut a, &mut f).await;
        // sled alone, as many writes as the gateway made (its `saves`: records are written
        // behind, so a burst of changes to one record is one write), at most
        // SLED_WRITES_MAX (sled's memory is flat after a few hundred thousand, see BENCHMARKS.md).
        let writes = a
            .probe
            .lock()
            .metrics
            .last()
            .and_then(|m| m.1["saves"].as_u64())
            .unwrap_or(0)
            .min(SLED_WRITES_MAX);
        a.stop();
        let caches: &[u64] = if o.quick {
            &[micro::SLED_CACHE]
        } else {
            &[micro::SLED_CACHE, 1 << 20]
        };
        for &cache in caches {
            match micro::sled_share(&state_a, writes, cache, w) {
                Ok((kib, records, writes)) => {
                    eprintln!(
                        "[sled] cache {} MiB: +{} for {records} records, {writes} writes",
                        cache >> 20,
                        mib(kib as f64)
                    );
                    if cache == micro::SLED_CACHE {
                        f.sled_share_kib.push(kib as f64);
                        f.sled_note = format!(
                            "{records} records, {} writes, board cache 16 MiB",
                            thousands(writes as f64)
                        );
                    } else {
                        let _ = write!(f.sled_note, "; with a 1 MiB cache {}", mib(kib as f64));
                    }
                }
                Err(e) => f.sled_note = format!("not measured: {e}"),
            }
        }

        // --- 3. boots from the warm sled of A ------------------------------------------------------
        boot_runs(o, &mut a, &mut f).await;
        drop(a);
        drop(big);
    }

    // --- 4. session H (full mode): another peak-RSS process, cold, on a fresh org -------------
    // (A fresh org: after A's load most agents have an open conversation, and a resync then
    // reads each one over REST at 4 per second: see BENCHMARKS.md.)
    if !o.quick && o.phase("h") {
        let fresh = Sim::start(rig::sim_config(o.agents, o.queues, 3))
            .await
            .expect("simulator");
        let state_h = w.join("state-h");
        let mut h = Session::open(&fresh, &rumqttd, w, &state_h, board, o.metrics_secs).await;
        eprintln!("[H] cold start on a fresh org, for peak RSS");
        match h.start_synced(Duration::from_secs(1200)).await {
            Ok(_) => hwm_run(o, &mut h, &mut f).await,
            Err(e) => f.notes.push(format!("session H did not start: {e}")),
        }
        h.stop();
    }

    // --- 5. session M: mosquitto, cold, on a fresh org -------------------------------------------
    if o.mosquitto && o.phase("m") {
        match rig::Broker::mosquitto(w) {
            Ok(mq) => {
                let fresh = Sim::start(rig::sim_config(o.agents, o.queues, 4))
                    .await
                    .expect("simulator");
                let state_m = w.join("state-m");
                let mut m = Session::open(&fresh, &mq, w, &state_m, board, o.metrics_secs).await;
                eprintln!("[M] cold start on mosquitto");
                match m.start_synced(Duration::from_secs(1200)).await {
                    Ok(d) => {
                        f.cold_sync_s
                            .push((o.agents, BrokerKind::Mosquitto, d.as_secs_f64()));
                        latency_runs(o, &mut m, BrokerKind::Mosquitto, o.runs, &mut f).await;
                        hwm_run(o, &mut m, &mut f).await;
                        throughput_runs(o, &mut m, BrokerKind::Mosquitto, o.runs, &mut f).await;
                        if o.only.is_some() && o.phase("s") {
                            // A soak here only when asked (`--only=…,s`): phase `a` has one.
                            soak(o, &mut m, &mut f).await;
                        }
                    }
                    Err(e) => f
                        .notes
                        .push(format!("mosquitto session did not start: {e}")),
                }
                m.stop();
            }
            Err(e) => f.notes.push(format!("mosquitto: {e}")),
        }
    } else if o.phase("m") {
        f.notes.push(if machine::on_path("mosquitto") {
            "mosquitto: skipped (--quick or --no-mosquitto)".into()
        } else {
            "mosquitto: not on PATH".into()
        });
    }
    // --- 6. resync of the small org (full mode): idle, then busy after load --------------------
    if !o.quick && o.small_agents != o.agents && o.phase("r") {
        let small = Sim::start(rig::sim_config(o.small_agents, o.small_queues, 2))
            .await
            .expect("simulator");
        let state_r = w.join("state-r");
        let mut r = Session::open(
            &small,
            &rumqttd,
            w,
            &state_r,
            o.board(o.small_agents),
            o.metrics_secs,
        )
        .await;
        eprintln!("[R] cold start: {} agents", o.small_agents);
        match r.start_synced(Duration::from_secs(600)).await {
            Ok(d) => {
                f.cold_sync_s
                    .push((o.small_agents, BrokerKind::Rumqttd, d.as_secs_f64()));
                resync_runs(o, &mut r, o.resync_runs, "idle org", 0, &mut f).await;
                // Load, so that agents have open conversations, then one more resync.
                let d = rig::drive_max(r.sim.clone(), 50_000, None);
                while !d.done() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                d.finish();
                resync_runs(
                    o,
                    &mut r,
                    1,
                    "after 50,000 events, 2,000 more in the gap",
                    2_000,
                    &mut f,
                )
                .await;
            }
            Err(e) => f
                .notes
                .push(format!("small-org session did not start: {e}")),
        }
        r.stop();
    }
    // --- 7. membership: a queue join or leave reaching a zone's display (issue 13) ------------
    if o.phase("z") {
        membership_runs(o, &rumqttd, w, &mut f).await;
    }
    // --- 8. heap profile (issue 16 point 4): only when asked (`--only=p`), with the gateway
    // under the profiler named in BENCH_GATEWAY_WRAP: the big org's cold start and resync,
    // then `--profile-events` events at `--profile-rate`/s, then a graceful stop (the
    // profiler writes its file at exit).
    if o.only.is_some() && o.phase("p") {
        let sim = Sim::start(rig::sim_config(o.agents, o.queues, 9))
            .await
            .expect("simulator");
        let mut p = Session::open(
            &sim,
            &rumqttd,
            w,
            &w.join("state-p"),
            o.board(o.agents),
            o.metrics_secs,
        )
        .await;
        eprintln!("[P] cold start under the profiler: {} agents", o.agents);
        match p.start_synced(Duration::from_secs(3600)).await {
            Ok(d) => {
                eprintln!("[P] exact after {:.1} s", d.as_secs_f64());
                let d = rig::drive_rate(sim.clone(), o.profile_rate, None);
                while d.events.load(std::sync::atomic::Ordering::Relaxed) < o.profile_events {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let sent = d.finish();
                let exact = rig::converge(&sim, &p.view, Duration::from_secs(600)).await;
                // Under a profiler these are the profiler's process figures.
                let (rss, hwm) = p.gw().rss().unwrap_or_default();
                let split = p.gw().rss_split().unwrap_or_default();
                eprintln!(
                    "[P] {} events at {}/s; display {}; VmRSS {:.1} MiB ({:.1} anonymous, {:.1} file-backed, {} threads), VmHWM {:.1} MiB",
                    sent.events,
                    o.profile_rate,
                    if exact.is_ok() { "exact" } else { "NOT exact" },
                    rss as f64 / 1024.0,
                    split.anon_kib as f64 / 1024.0,
                    split.file_kib as f64 / 1024.0,
                    split.threads,
                    hwm as f64 / 1024.0
                );
            }
            Err(e) => f.notes.push(format!("profile session did not start: {e}")),
        }
        p.stop();
    }
    let _ = writeln!(head, "load average at the end: {}", machine::load());
    let out = table(o, &head, &f);
    let _ = std::fs::write(o.out.join("results.md"), &out);
    out
}

// ---------------------------------------------------------------------------------------------
// Runs

async fn latency_runs(o: &Opts, s: &mut Session, broker: BrokerKind, runs: usize, f: &mut Figures) {
    let defs = s.sim.presence_definitions();
    let pick = |name: &str| {
        defs.iter()
            .find(|d| d.1 == name)
            .map(|d| (d.0.clone(), rig::wire_presence(&d.1)))
            .expect("a primary presence definition")
    };
    let pair = [pick("AVAILABLE"), pick("AWAY")];
    let mut stats: [Series; 4] = Default::default();
    let mut samples_all = Vec::new();
    let mut e2e_p99 = Series::default();
    s.probe.lock().latency = Some(rig::LatencyWatch::default());
    s.probe.watch_zone(true).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let interval = Duration::from_secs(o.metrics_secs);
    for run in 1..=runs {
        // One metrics interval exactly: from one metrics document to the next.
        if s.probe.next_metrics(interval * 3).await.is_none() {
            f.notes.push("latency: no metrics document".into());
            break;
        }
        if let Some(l) = s.probe.lock().latency.as_mut() {
            l.samples.clear();
        }
        let driver = rig::drive_rate(
            s.sim.clone(),
            LATENCY_RATE,
            Some(rig::Probes {
                state: s.probe.state.clone(),
                users: s.sim.users(),
                defs: pair.clone(),
                per_sec: PROBE_RATE,
            }),
        );
        let doc = s.probe.next_metrics(interval * 3).await;
        let driven = driver.finish();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let samples: Vec<u32> = s
            .probe
            .lock()
            .latency
            .as_mut()
            .map(|l| std::mem::take(&mut l.samples))
            .unwrap_or_default();
        let Some((_, doc)) = doc else {
            f.notes
                .push("latency: no metrics document after the run".into());
            break;
        };
        let g = |k: &str| doc[k].as_f64().unwrap_or(f64::NAN);
        stats[0].push(g("latency_p50_us"));
        stats[1].push(g("latency_p99_us"));
        stats[2].push(g("latency_p999_us"));
        stats[3].push(g("latency_samples"));
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        if !sorted.is_empty() {
            e2e_p99.push(sorted[(sorted.len() - 1) * 99 / 100] as f64);
        }
        eprintln!(
            "[latency {}] run {run}: {:.0} events/s for {:.1} s; gateway p50/p99/p999 = {}/{}/{} µs over {} frames; {} end-to-end samples",
            broker.name(),
            driven.events as f64 / driven.secs,
            driven.secs,
            g("latency_p50_us"),
            g("latency_p99_us"),
            g("latency_p999_us"),
            g("latency_samples"),
            samples.len()
        );
        samples_all.extend(samples);
    }
    s.probe.watch_zone(false).await;
    s.probe.lock().latency = None;
    f.latency.push((broker, stats, samples_all, e2e_p99));
}

async fn hwm_run(o: &Opts, s: &mut Session, f: &mut Figures) {
    let driver = rig::drive_rate(s.sim.clone(), RSS_RATE, None);
    let end = Instant::now() + Duration::from_secs(o.hwm_secs);
    let mut rss_max = 0u64;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some((rss, _)) = s.gw().rss() {
            rss_max = rss_max.max(rss);
        }
    }
    let driven = driver.finish();
    let Some((rss, hwm)) = s.gw().rss() else {
        f.notes.push("peak RSS: the gateway had exited".into());
        return;
    };
    f.hwm_kib.push(hwm as f64);
    f.rss_at_rate.push(rss_max.max(rss) as f64);
    let split = s.gw().rss_split().unwrap_or_default();
    f.rss_split.push(split);
    eprintln!(
        "[rss] {:.0} events/s for {:.0} s: VmHWM {} (process life), VmRSS max {} during the run; at its end anonymous {}, file-backed {}, {} threads",
        driven.events as f64 / driven.secs,
        driven.secs,
        mib(hwm as f64),
        mib(rss_max as f64),
        mib(split.anon_kib as f64),
        mib(split.file_kib as f64),
        split.threads
    );
    if rig::converge(&s.sim, &s.view, Duration::from_secs(120))
        .await
        .is_err()
    {
        f.notes
            .push("after the 20,000 events/s run the display was not exact".into());
    }
}

async fn throughput_runs(
    o: &Opts,
    s: &mut Session,
    broker: BrokerKind,
    runs: usize,
    f: &mut Figures,
) {
    let mut eps = Series::default();
    let mut cpu = Series::default();
    let mut cost = Series::default();
    let mut exact = true;
    let mut detail = String::new();
    for run in 1..=runs {
        // The load is made before the clock starts (issue 16 point 1): the simulator builds
        // every frame's JSON and moves its truth, then the frames are replayed, one queue push
        // each, as fast as the gateway reads them.
        let t_rec = Instant::now();
        let rec = s.sim.record(o.throughput_events as usize);
        let (rec_secs, rec_frames, rec_bytes) = (
            t_rec.elapsed().as_secs_f64(),
            rec.frames_left(),
            rec.bytes(),
        );
        eprintln!(
            "[throughput {}] run {run}: recorded {} events ({} frames, {}) in {rec_secs:.1} s",
            broker.name(),
            thousands(rec.events() as f64),
            thousands(rec_frames as f64),
            mib(rec_bytes as f64 / 1024.0),
        );
        let cpu0 = s.gw().cpu().unwrap_or_default();
        let own0 = machine::cpu_time(std::process::id()).unwrap_or_default();
        let t0 = Instant::now();
        let driver = rig::drive_recording(s.sim.clone(), rec);
        while !driver.done() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let driven = driver.finish();
        let result = rig::converge(&s.sim, &s.view, Duration::from_secs(300)).await;
        let wall = t0.elapsed().as_secs_f64();
        let used = s
            .gw()
            .cpu()
            .unwrap_or_default()
            .saturating_sub(cpu0)
            .as_secs_f64();
        let own = machine::cpu_time(std::process::id())
            .unwrap_or_default()
            .saturating_sub(own0)
            .as_secs_f64();
        match result {
            Ok(_) => {
                eps.push(driven.events as f64 / wall);
                cpu.push(100.0 * used / wall);
                cost.push(1e6 * used / driven.events.max(1) as f64);
                eprintln!(
                    "[throughput {}] run {run}: {} events ({} frames) replayed in {wall:.2} s = {} events/s, view exact; gateway CPU {:.0} % of its core, {:.1} µs per event; bench process {:.0} % of its core",
                    broker.name(),
                    thousands(driven.events as f64),
                    thousands(driven.frames as f64),
                    thousands(driven.events as f64 / wall),
                    100.0 * used / wall,
                    1e6 * used / driven.events.max(1) as f64,
                    100.0 * own / wall,
                );
                detail = format!(
                    "{:.2} WebSocket frames per event; load side: frames recorded beforehand ({:.1} µs per event to make, not timed), replayed one queue push each; bench process (replay, broker, display) {:.0} % of its core",
                    driven.frames as f64 / driven.events.max(1) as f64,
                    1e6 * rec_secs / driven.events.max(1) as f64,
                    100.0 * own / wall
                );
            }
            Err(d) => {
                exact = false;
                eprintln!(
                    "[throughput {}] run {run}: view NOT exact: {d:?}",
                    broker.name()
                );
                f.notes.push(format!(
                    "throughput run {run} on {}: view not exact: {d:?}",
                    broker.name()
                ));
            }
        }
    }
    f.throughput.push((broker, eps, cpu, cost, exact, detail));
}

async fn soak(o: &Opts, s: &mut Session, f: &mut Figures) {
    eprintln!(
        "[soak] up to {} events or {} s at the highest sustainable rate",
        if o.soak_events == u64::MAX {
            "∞".to_string()
        } else {
            thousands(o.soak_events as f64)
        },
        o.soak_secs
    );
    let t0 = Instant::now();
    let cpu0 = s.gw().cpu().unwrap_or_default();
    let until = t0 + Duration::from_secs(o.soak_secs);
    let driver = rig::drive_replay(s.sim.clone(), o.soak_events, Some(until));
    let mut samples: Vec<(f64, f64, f64)> = Vec::new(); // (secs, events, rss KiB)
    let mut next_log = 60.0;
    while !driver.done() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ev = driver.events.load(std::sync::atomic::Ordering::Relaxed) as f64;
        let Some((rss, _)) = s.gw().rss() else {
            f.notes.push("soak: the gateway exited".into());
            break;
        };
        let t = t0.elapsed().as_secs_f64();
        samples.push((t, ev, rss as f64));
        if t >= next_log {
            next_log += 60.0;
            eprintln!(
                "[soak] {t:.0} s: {} events, RSS {}",
                thousands(ev),
                mib(rss as f64)
            );
        }
    }
    let driven = driver.finish();
    let exact = rig::converge(&s.sim, &s.view, Duration::from_secs(300))
        .await
        .is_ok();
    let cpu_us = 1e6
        * s.gw()
            .cpu()
            .unwrap_or_default()
            .saturating_sub(cpu0)
            .as_secs_f64()
        / driven.events.max(1) as f64;
    if samples.len() < 10 {
        f.notes.push("soak too short to measure growth".into());
        return;
    }
    let window = |lo: f64, hi: f64| {
        let n = samples.len() as f64;
        let mut v = Series::default();
        for (i, s) in samples.iter().enumerate() {
            let at = i as f64 / n;
            if at >= lo && at < hi {
                v.push(s.2);
            }
        }
        v.median()
    };
    let warm = window(0.1, 0.2);
    let end = window(0.9, 1.01);
    let settled = &samples[samples.len() / 10..];
    let max = settled.iter().map(|s| s.2).fold(0.0, f64::max);
    let min = settled.iter().map(|s| s.2).fold(f64::INFINITY, f64::min);
    let trend = slope(&settled.iter().map(|s| (s.1 / 1e7, s.2)).collect::<Vec<_>>());
    f.soak = Some(Soak {
        events: driven.events,
        secs: driven.secs,
        exact,
        samples: samples.iter().map(|s| (s.1 / 1e6, s.2 / 1024.0)).collect(),
        warm_kib: warm,
        end_kib: end,
        max_kib: max,
        slope_kib_per_10m: trend,
        min_kib: min,
        recorded_secs: driven.recorded_secs,
        cpu_us,
    });
    eprintln!(
        "[soak] {} events replayed in {:.0} s (+{:.0} s recording them), gateway CPU {cpu_us:.1} µs per event; RSS {} after warm-up → {} at the end (min {}, max {}), trend {:+.0} KiB per 10 M events; view {}",
        thousands(driven.events as f64),
        driven.secs,
        driven.recorded_secs,
        mib(warm),
        mib(end),
        mib(min),
        mib(max),
        trend,
        if exact { "exact" } else { "NOT exact" }
    );
}

/// `gap` events are made while the gateway hears nothing, just before the drop (0: none), so
/// the resync has presence, routing and conversations to repair; the time until the display's
/// presence and routing are exact is measured apart (issue 13: ≤ 3 s).
async fn resync_runs(
    o: &Opts,
    s: &mut Session,
    runs: usize,
    label: &str,
    gap: usize,
    f: &mut Figures,
) {
    let mut time = Series::default();
    let mut floor = Series::default();
    let mut requests = Series::default();
    let mut agents_exact = Series::default();
    for run in 1..=runs {
        // A fresh rate-limit window: no REST request for a minute (rediscovery included).
        if !rig::rest_idle(&s.sim, o.rest_quiet, Duration::from_secs(900)).await {
            f.notes.push("resync: REST never went idle".into());
            break;
        }
        let before = s.probe.lock().audit_count("resync");
        let s0 = s.sim.stats();
        if gap > 0 {
            s.sim.fault(Fault::Silence(true));
            let mut done = 0;
            while done < gap {
                done += s.sim.step(100);
            }
            s.sim.fault(Fault::Silence(false));
        }
        let t0 = Instant::now();
        s.sim.fault(Fault::DropSockets);
        // Presence and routing of every agent on the display as in the truth: polled until the
        // resync is reported (the gap's changes make it false until the resync repairs them).
        let mut exact_after = None;
        while s.probe.lock().audit_count("resync") <= before
            && t0.elapsed() < Duration::from_secs(1800)
        {
            if exact_after.is_none()
                && rig::diff_presence_routing(&s.view.snapshot(), &s.sim.truth()).is_empty()
            {
                exact_after = Some(t0.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let Some((t1, doc)) = s
            .probe
            .audit("resync", before + 1, Duration::from_secs(1800))
            .await
        else {
            f.notes.push("resync: no resync audit event".into());
            break;
        };
        let s1 = s.sim.stats();
        let answered = (s1.rest_requests - s0.rest_requests) - (s1.rate_limited - s0.rate_limited);
        let secs = t1.duration_since(t0).as_secs_f64();
        if exact_after.is_none()
            && rig::diff_presence_routing(&s.view.snapshot(), &s.sim.truth()).is_empty()
        {
            exact_after = Some(t0.elapsed().as_secs_f64());
        }
        if let Some(e) = exact_after {
            agents_exact.push(e);
        }
        // Each OAuth client has its own budget, and the gateway's reads take turns over them.
        let clients = 1 + s.sim.config().more_clients.len();
        let fl = answered as f64 / (REST_PER_SEC * clients as f64);
        time.push(secs);
        floor.push(fl);
        requests.push(answered as f64);
        eprintln!(
            "[resync {}] run {run}: socket drop → presence and routing exact after {}, resync done in {secs:.1} s; {answered} REST requests answered ({} refused 429) over {clients} OAuth client(s) → floor {fl:.1} s; gateway: {}",
            s.agents,
            exact_after.map_or("(not exact)".to_string(), |e| format!("{e:.1} s")),
            s1.rate_limited - s0.rate_limited,
            doc["detail"].as_str().unwrap_or("")
        );
        if rig::converge(&s.sim, &s.view, Duration::from_secs(300))
            .await
            .is_err()
        {
            f.notes.push(format!(
                "resync run {run} ({} agents): display not exact afterwards",
                s.agents
            ));
        }
    }
    f.resync.push((
        s.agents,
        label.to_string(),
        time,
        floor,
        requests,
        agents_exact,
    ));
}

/// Queue membership reaching a display: a 40-agent org with a zone `z0` of its first queue;
/// an agent of the other queue only joins `z0`'s queue and leaves it again, `o.runs × 10`
/// times; each change is timed from the simulator's member event to the zone's display
/// showing it (the agent's tile there or gone, and the roster's count).
async fn membership_runs(o: &Opts, broker: &rig::Broker, w: &Path, f: &mut Figures) {
    let sim = Sim::start(rig::sim_config(40, 2, 48))
        .await
        .expect("simulator");
    let queues = sim.queues();
    let site = rig::write_site(&sim, broker, w, &w.join("state-z"), "rpi4", 2);
    let text = std::fs::read_to_string(&site.config).expect("site config");
    let zone = format!("\n[[zone]]\nname = \"z0\"\nqueues = [\"{}\"]\n", queues[0]);
    let text = text.replace("[mqtt]", &format!("{zone}\n[mqtt]"));
    std::fs::write(&site.config, text).expect("site config");
    let view = Subscriber::start(broker.addr(), &site.topics, "z0");
    let log = w.join("gateway-membership.log");
    let mut gw = Gateway::spawn(&site, &sim, &log);
    let members = |q: &str| -> Vec<String> {
        sim.truth()
            .agents
            .iter()
            .filter(|(_, a)| a.queues.iter().any(|x| x == q))
            .map(|(id, _)| id.clone())
            .collect()
    };
    let before = members(&queues[0]);
    let Some(agent) = members(&queues[1])
        .into_iter()
        .find(|a| !before.contains(a))
    else {
        f.notes
            .push("membership: no agent of the second queue only".into());
        return;
    };
    let shows = |n: usize, present: bool| {
        let floor = view.snapshot();
        floor.agents.contains_key(&agent) == present
            && floor.agents.len() == n
            && floor.roster.is_some_and(|r| usize::from(r.agents) == n)
    };
    let wait = |n: usize, present: bool, limit: Duration| {
        let shows = &shows;
        async move {
            let t0 = Instant::now();
            while !shows(n, present) {
                if t0.elapsed() > limit {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Some(t0.elapsed())
        }
    };
    if wait(before.len(), false, Duration::from_secs(120))
        .await
        .is_none()
    {
        f.notes.push(format!(
            "membership: zone z0 never matched the truth; gateway log:\n{}",
            gw.log_tail(10)
        ));
        gw.stop();
        return;
    }
    for _ in 0..o.runs * 10 {
        for (joined, n) in [(true, before.len() + 1), (false, before.len())] {
            sim.set_queue_member(&queues[0], &agent, joined);
            match wait(n, joined, Duration::from_secs(30)).await {
                Some(took) => f.membership_ms.push(took.as_secs_f64() * 1e3),
                None => {
                    f.notes.push(format!(
                        "membership: a {} did not reach the display in 30 s",
                        if joined { "join" } else { "leave" }
                    ));
                    gw.stop();
                    return;
                }
            }
        }
    }
    eprintln!(
        "[membership] {} changes: p50 {:.1} ms, max {:.1} ms from the member event to the zone's display",
        f.membership_ms.values.len(),
        f.membership_ms.median(),
        f.membership_ms.max()
    );
    gw.stop();
}

async fn boot_runs(o: &Opts, s: &mut Session, f: &mut Figures) {
    s.probe.watch_zone(true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    f.boot_agents = s.agents;
    for run in 1..=o.runs {
        // Hold the REST API off: every frame of the boot must come from sled.
        s.sim.fault(Fault::RateLimitStorm { secs: 20 });
        let sockets = s.sim.stats().ws_connections;
        {
            let mut st = s.probe.lock();
            let after = st.max_session;
            st.boot = Some(rig::BootWatch {
                after_session: after,
                expected: s.agents,
                ..rig::BootWatch::default()
            });
        }
        s.gw = Some(Gateway::spawn(&s.site, &s.sim, &s.log));
        let t0 = s.gw().started;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = None;
        while Instant::now() < deadline {
            {
                let st = s.probe.lock();
                if let Some(b) = st.boot.as_ref() {
                    if let (Some(first), Some(all)) = (b.first, b.all) {
                        got = Some((first - t0, all - t0));
                    }
                }
            }
            if got.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let from_sled = s.sim.stats().ws_connections == sockets;
        s.stop();
        s.probe.lock().boot = None;
        match got {
            Some((first, all)) => {
                f.boot_first_ms.push(first.as_secs_f64() * 1e3);
                f.boot_all_ms.push(all.as_secs_f64() * 1e3);
                eprintln!(
                    "[boot] run {run}: first retained frame {:.1} ms, all {} agents {:.1} ms after process start ({})",
                    first.as_secs_f64() * 1e3,
                    s.agents,
                    all.as_secs_f64() * 1e3,
                    if from_sled { "from sled: no upstream socket yet" } else { "an upstream socket opened meanwhile" }
                );
            }
            None => f
                .notes
                .push(format!("boot run {run}: not every agent frame within 60 s")),
        }
    }
    s.probe.watch_zone(false).await;
    // Let the storm pass before the next session needs the REST API.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// The table

/// "; by stage: decode X, state +Y, sled +Z, frame + MQTT +W" from the cumulative stages.
fn stage_split(stages: &[(micro::Stage, micro::MicroResult)], full: &micro::MicroResult) -> String {
    if stages.is_empty() {
        return String::new();
    }
    let mut out = String::from("; by stage (instructions/event):");
    let mut prev = 0.0;
    let all = stages
        .iter()
        .map(|(s, r)| (s.name(), r.instructions_per_event))
        .chain([("frame + topic + MQTT packet", full.instructions_per_event)]);
    for (i, (name, v)) in all.enumerate() {
        let _ = write!(
            out,
            "{} {name} {}{}",
            if i == 0 { "" } else { "," },
            if i == 0 { "" } else { "+" },
            thousands(v - prev)
        );
        prev = v;
    }
    out
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**NOT met**",
        None => "—",
    }
}

fn table(o: &Opts, head: &str, f: &Figures) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "\n## presence-gateway pipeline bench\n");
    for l in head.lines() {
        let _ = writeln!(t, "- {l}");
    }
    let _ = writeln!(t, "- command: `{}`", o.cmdline);
    let _ = writeln!(t, "\n| figure | target | result | |\n|---|---|---|---|");
    let mut row = |fig: String, target: &str, result: String, ok: Option<bool>| {
        let _ = writeln!(t, "| {fig} | {target} | {result} | {} |", verdict(ok));
    };
    let org = format!(
        "{} agents + {} queues",
        thousands(o.agents as f64),
        o.queues
    );

    for (b, eps, cpu, cost, exact, detail) in &f.throughput {
        row(
            format!(
                "events/s per gateway core (CPU time), whole pipeline on replayed frames, {org}, {}",
                b.name()
            ),
            "≥ 50,000",
            format!(
                "{} events/s per gateway core: {} µs CPU per event; {} events/s delivered (wall clock to an exact view); view {}; gateway CPU {} of its core; {detail}",
                thousands(1e6 / cost.median()),
                cost.show(|v| format!("{v:.1}")),
                eps.show(thousands),
                if *exact { "exact" } else { "NOT exact" },
                cpu.show(|v| format!("{v:.0} %"))
            ),
            (!eps.is_empty()).then(|| *exact && 1e6 / cost.median() >= 50_000.0),
        );
    }
    for (b, s, e2e, e2e_p99) in &f.latency {
        let mut sorted = e2e.clone();
        sorted.sort_unstable();
        let q = |p: f64| {
            if sorted.is_empty() {
                f64::NAN
            } else {
                sorted[((sorted.len() - 1) as f64 * p) as usize] as f64
            }
        };
        row(
            format!("added latency frame-in → publish-out at 2,000 events/s, {}", b.name()),
            "p99 ≤ 1 ms",
            format!(
                "gateway p50 {} / p99 {} / p999 {} µs ({} frames per window); end to end sim → display p50/p99/p999 {:.0}/{:.0}/{:.0} µs ({} samples, p99 per run {})",
                s[0].show(|v| format!("{v:.0}")),
                s[1].show(|v| format!("{v:.0}")),
                s[2].show(|v| format!("{v:.0}")),
                s[3].show(thousands),
                q(0.5),
                q(0.99),
                q(0.999),
                sorted.len(),
                e2e_p99.show(|v| format!("{v:.0}"))
            ),
            (!s[1].is_empty()).then(|| s[1].median() <= 1000.0),
        );
    }
    row(
        format!("peak RSS (VmHWM), {org}, 20,000 events/s"),
        "≤ 16 MiB",
        format!(
            "{} over the process life (boot, resync, 20 k events/s); max VmRSS during the 20 k/s run {}{}; sled's share {} ({})",
            f.hwm_kib.show(mib),
            f.rss_at_rate.show(mib),
            f.rss_split.last().map_or(String::new(), |x| format!(
                ", at its end {} anonymous + {} file-backed (the executable's pages), {} threads",
                mib(x.anon_kib as f64),
                mib(x.file_kib as f64),
                x.threads
            )),
            f.sled_share_kib.show(mib),
            f.sled_note
        ),
        (!f.hwm_kib.is_empty()).then(|| f.hwm_kib.median() <= 16.0 * 1024.0),
    );
    match &f.soak {
        Some(s) => {
            let growth = 100.0 * (s.end_kib - s.warm_kib) / s.warm_kib;
            let trend = 100.0 * s.slope_kib_per_10m / s.warm_kib;
            row(
                "RSS growth over a soak (replayed frames)".into(),
                "≤ 1 % over ≥ 50 M events",
                format!(
                    "trend {trend:+.2} % per 10 M events ({:+.0} KiB, least squares after the first tenth); end − warm {growth:+.2} % ({} after warm-up → {} at the end); swing {} – {} over {} events, replayed in {:.0} s (+{:.0} s recording them), gateway CPU {:.1} µs per event; view {}",
                    s.slope_kib_per_10m,
                    mib(s.warm_kib),
                    mib(s.end_kib),
                    mib(s.min_kib),
                    mib(s.max_kib),
                    thousands(s.events as f64),
                    s.secs,
                    s.recorded_secs,
                    s.cpu_us,
                    if s.exact { "exact" } else { "NOT exact" }
                ),
                Some(
                    trend * (s.events as f64 / 1e7) <= 1.0
                        && s.events >= 50_000_000
                        && s.exact,
                ),
            );
        }
        None => row(
            "RSS growth over a soak".into(),
            "≤ 1 %",
            "not measured".into(),
            None,
        ),
    }
    match f.micro.clone().unwrap_or_else(|| Err("not run".into())) {
        Ok(m) => row(
            "instructions per event, decode + state (sled) + encode + publish (micro-bench)".into(),
            "≤ 20,000",
            format!(
                "{} instructions/event (callgrind, the events' thread, difference of two runs over {} events; sled's background threads {:+.0} per event, not included: they follow the wall clock); {:.0} ns/event native; {:.2} frames published per event{}",
                thousands(m.instructions_per_event),
                thousands(m.events as f64),
                m.background_per_event,
                m.ns_per_event,
                m.published_per_event,
                stage_split(&f.stages, &m)
            ),
            Some(m.instructions_per_event <= 20_000.0),
        ),
        Err(why) => row(
            "instructions per event".into(),
            "≤ 20,000",
            format!("not measured: {why}"),
            None,
        ),
    }
    for (records, cost) in &f.checkpoint {
        let value = match cost {
            Ok((ns, ir)) => format!(
                "{:.1} ms flush{} (once per resync, not per event: the per-event figure above does not change)",
                *ns as f64 / 1e6,
                match ir {
                    None => String::new(),
                    Some(0) => ", instructions below the noise of two callgrind runs".into(),
                    Some(ir) => format!(
                        ", {} instructions = {:.0} per record written",
                        thousands(*ir as f64),
                        *ir as f64 / f64::from(*records)
                    ),
                }
            ),
            Err(why) => format!("not measured: {why}"),
        };
        row(
            format!(
                "checkpoint: sled flush after a resync wrote {} records",
                thousands(f64::from(*records))
            ),
            "",
            value,
            None,
        );
    }
    row(
        format!(
            "boot: process start → first retained frame from sled / → all {} agents' frames at the display",
            thousands(f.boot_agents as f64)
        ),
        "≤ 100 ms / ≤ 500 ms",
        format!(
            "{} ms / {} ms",
            f.boot_first_ms.show(|v| format!("{v:.1}")),
            f.boot_all_ms.show(|v| format!("{v:.1}"))
        ),
        (!f.boot_all_ms.is_empty())
            .then(|| f.boot_first_ms.median() <= 100.0 && f.boot_all_ms.median() <= 500.0),
    );
    row(
        "queue join/leave → the zone's tiles and roster at the display (40 agents, zone of one queue)".into(),
        "≤ 2 s",
        if f.membership_ms.is_empty() {
            "not measured".into()
        } else {
            format!(
                "median {:.1} ms, max {:.1} ms over {} changes",
                f.membership_ms.median(),
                f.membership_ms.max(),
                f.membership_ms.values.len()
            )
        },
        (!f.membership_ms.is_empty()).then(|| f.membership_ms.max() <= 2000.0),
    );
    for (agents, label, time, floor, req, exact) in &f.resync {
        let over: Vec<f64> = time
            .values
            .iter()
            .zip(&floor.values)
            .map(|(t, fl)| t - fl)
            .collect();
        let over = Series { values: over };
        // Issue 13: a busy org (events in the gap) within 10 s of its floor, presence and
        // routing exact within 3 s; an idle one within 1 s.
        let busy = label.contains("gap");
        let margin = if busy { 10.0 } else { 1.0 };
        row(
            format!(
                "full resync under 300 req/min, {} agents, {label} (socket drop → resync done)",
                thousands(*agents as f64)
            ),
            if busy {
                "≤ request floor + 10 s"
            } else {
                "≤ request floor + 1 s"
            },
            format!(
                "{} s; floor {} s ({} requests answered ÷ 5/s per OAuth client); time − floor {} s",
                time.show(|v| format!("{v:.1}")),
                floor.show(|v| format!("{v:.1}")),
                req.show(thousands),
                over.show(|v| format!("{v:+.1}"))
            ),
            (!time.is_empty()).then(|| over.median() <= margin),
        );
        if busy {
            row(
                format!(
                    "presence and routing exact after a gap, {} agents, {label} (socket drop → every agent's presence and routing on the display as in the truth)",
                    thousands(*agents as f64)
                ),
                "≤ 3 s",
                if exact.is_empty() {
                    "not exact before the resync was done".into()
                } else {
                    format!("{} s", exact.show(|v| format!("{v:.1}")))
                },
                Some(!exact.is_empty() && exact.median() <= 3.0),
            );
        }
    }
    if !f.resync.iter().any(|r| r.0 >= 10_000) {
        row(
            "full resync, 10,000 agents".into(),
            "≤ request floor + 1 s",
            "not measured in this mode (--quick uses 1,000 agents)".into(),
            None,
        );
    }
    let sz = &f.sizes;
    let med = |v: &[usize]| {
        let mut s = Series::default();
        for &x in v {
            s.push(x as f64);
        }
        s
    };
    let frames = med(&sz.agent_frames);
    row(
        "postcard agent frame vs the Genesys JSON event".into(),
        "≤ 32 B",
        format!(
            "agent frame median {:.0} B, max {:.0} B ({} frames); simulator presence/activity notification median {:.0} B (eventBody {:.0} B); Genesys sample presence.json {}",
            frames.median(),
            frames.max(),
            sz.agent_frames.len(),
            med(&sz.presence_json).median(),
            med(&sz.presence_body).median(),
            sz.sample
                .map_or("n/a".into(), |(m, b)| format!("{m} B (eventBody {b} B)"))
        ),
        (!frames.is_empty()).then(|| frames.max() <= 32.0),
    );
    row(
        "stripped aarch64 firmware size".into(),
        "≤ 4 MiB",
        match &f.firmware {
            Some(fw) => format!(
                "{} bytes ({}){}",
                thousands(fw.bytes as f64),
                mib(fw.bytes as f64 / 1024.0),
                if fw.stale {
                    ", stale: built before the newest change to the gateway's sources (rebuild: .ci/run step h)"
                } else {
                    ""
                }
            ),
            None => "not built (run .ci/run step h)".into(),
        },
        f.firmware
            .as_ref()
            .filter(|fw| !fw.stale)
            .map(|fw| fw.bytes <= 4 * 1024 * 1024),
    );
    if !sz.decode_by_kind.is_empty() {
        let _ = write!(
            t,
            "\ndecode::parse alone, by notification kind (native, this machine): "
        );
        for (i, (kind, n, bytes, ns)) in sz.decode_by_kind.iter().enumerate() {
            let _ = write!(
                t,
                "{}{kind} {n} frames of {bytes} B: {:.1} µs",
                if i == 0 { "" } else { "; " },
                ns / 1000.0
            );
        }
        let _ = writeln!(t);
    }
    for (agents, b, secs) in &f.cold_sync_s {
        let _ = writeln!(
            t,
            "\ncold start to an exact display ({} agents, {}, empty sled, discovery + channels + resync under the rate limit): {secs:.1} s",
            thousands(*agents as f64),
            b.name()
        );
    }
    if !f.notes.is_empty() {
        let _ = writeln!(t, "\nnotes:");
        for n in &f.notes {
            let _ = writeln!(t, "- {n}");
        }
    }
    // Plots.
    let first = f
        .latency
        .iter()
        .find(|l| l.0 == BrokerKind::Rumqttd)
        .or(f.latency.first());
    if let Some((broker, s, e2e, _)) = first {
        let marks = [
            ("p50", s[0].median()),
            ("p99", s[1].median()),
            ("p999", s[2].median()),
        ];
        let path = o.out.join("latency.svg");
        match plot::latency(
            &path,
            e2e,
            &marks,
            &format!(
                "latency at 2,000 events/s ({}): end to end, and the gateway's added latency",
                broker.name()
            ),
        ) {
            Ok(()) => {
                let _ = writeln!(t, "\nplot: {}", path.display());
            }
            Err(e) => {
                let _ = writeln!(t, "\nlatency plot failed: {e}");
            }
        }
    }
    if let Some(s) = &f.soak {
        let path = o.out.join("soak-rss.svg");
        match plot::rss(
            &path,
            &[("gateway VmRSS", s.samples.clone())],
            "gateway RSS over the soak (highest sustainable event rate)",
        ) {
            Ok(()) => {
                let _ = writeln!(t, "plot: {}", path.display());
            }
            Err(e) => {
                let _ = writeln!(t, "soak plot failed: {e}");
            }
        }
    }
    t
}
