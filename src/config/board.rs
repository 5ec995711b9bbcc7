//! Board profiles (`board/*.toml`): the memory budget and every runtime capacity of one kind
//! of box, and the worst-case memory arithmetic that checks them against each other. Owns
//! [`Board`], [`Capacity`], [`MemoryEstimate`] and the copies of the three shipped boards
//! compiled into the binary. Does not size compile-time types (that is `limits`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// The shipped boards, compiled in so `demo` and `check-config` work from any directory.
/// A `board/<name>.toml` next to the site config takes precedence over these.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("rpi4", include_str!("../../board/rpi4.toml")),
    ("armv7-512", include_str!("../../board/armv7-512.toml")),
    ("x86_64", include_str!("../../board/x86_64.toml")),
];

/// Estimated in-memory bytes of one agent record (presence, routing, conversation state,
/// timestamps, dirty flag): ~96 B as laid out in `state`.
pub const AGENT_RECORD_BYTES: u64 = 96;
/// Estimated in-memory bytes of one queue record (observations, aggregates, thresholds).
pub const QUEUE_RECORD_BYTES: u64 = 96;
/// One entry of the id → record map: 16 B key + 8 B slot, doubled for a hash table that has
/// just grown to the next power of two, plus control bytes: 64 B is the worst case.
pub const KEY_MAP_ENTRY_BYTES: u64 = 64;
/// One explicit zone member: a 16-byte `Id`.
pub const ZONE_MEMBER_BYTES: u64 = 16;
/// One decoded `Event` in the upstream → state channel, with channel slot overhead.
pub const EVENT_BYTES: u64 = 128;
/// One queued rumqttc request or inflight publish: packet struct + a postcard frame.
pub const MQTT_REQUEST_BYTES: u64 = 256;
/// sled's resident memory beyond its page cache, worst case (measured before issue 16's
/// 64 KiB segments and records written behind: ~20 MiB RSS regardless of the configured
/// cache, of which 16 MiB was not the cache; bench run 10: sled's whole share 10.2 MiB at
/// 10,500 records after 2 M writes with a 16 MiB cache, 7.3 MiB with 1 MiB). Kept as the
/// bound the budget check uses.
pub const SLED_OVERHEAD_BYTES: u64 = 16 * MIB;
/// Everything that does not scale with capacities: tokio runtime and thread stacks (2
/// workers, at most 32 blocking threads: `main.rs`), sled's I/O threads, rustls state and
/// webpki roots, the binary's own text/data. Measured well under 8 MiB (run 10: 3.2 MiB of
/// executable pages and 12 threads at 10,000 agents).
pub const RUNTIME_OVERHEAD_BYTES: u64 = 8 * MIB;

const MIB: u64 = 1024 * 1024;

/// Longest board name (also a file name).
const NAME_LEN: usize = 32;

/// A board profile: one kind of box, its memory budget and the capacities derived from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    /// Short name (`rpi4`), `[a-z0-9-_]`.
    pub name: String,
    /// Rust target triple the firmware is built for on this board (documentation for the
    /// build; nothing at runtime depends on it).
    pub target: String,
    /// Physical RAM of the box, for context: the budget must fit in it.
    pub ram_mib: u64,
    /// How much of that RAM the gateway may use at worst; checked by [`Board::check_budget`].
    pub memory_budget_mib: u64,
    /// Default state directory (sled). Relative paths are resolved against the site config's
    /// directory; the site's `state_dir` overrides this.
    pub state_dir: PathBuf,
    /// A persisted record not confirmed by an event or a resync for this long is shown stale.
    pub stale_ttl: Duration,
    /// Runtime capacities.
    pub capacity: Capacity,
    /// Where the profile came from (file or embedded copy), for messages.
    pub origin: BoardOrigin,
}

/// Runtime capacities of a board. Every value is validated non-zero.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Agents kept in the state table; more are refused and counted.
    pub max_agents: usize,
    /// Queues kept in the state table.
    pub max_queues: usize,
    /// Zones in the site config.
    pub max_zones: usize,
    /// Explicit users listed in one zone.
    pub max_zone_members: usize,
    /// Decoded events buffered between upstream and state (bounded mpsc depth).
    pub event_channel_depth: usize,
    /// Largest WebSocket message accepted (tungstenite `max_message_size`).
    pub ws_max_message_bytes: usize,
    /// Largest WebSocket frame accepted (tungstenite `max_frame_size`); ≤ the message size.
    pub ws_max_frame_bytes: usize,
    /// Largest REST response body read (OAuth, resync pages).
    pub rest_max_body_bytes: usize,
    /// sled `cache_capacity` (sled's default of 1 GiB must never be used).
    pub sled_cache_bytes: u64,
    /// Unacknowledged QoS 1 publishes (rumqttc `set_inflight`).
    pub mqtt_inflight: u16,
    /// rumqttc request queue (`AsyncClient::new(opts, cap)`).
    pub mqtt_request_depth: usize,
    /// Paced republish rate after a broker reconnect, frames per second.
    pub republish_per_second: u32,
}

/// Where a [`Board`] was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoardOrigin {
    /// The copy compiled into the binary, by name.
    Embedded(&'static str),
    /// A file.
    File(PathBuf),
}

impl fmt::Display for BoardOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoardOrigin::Embedded(name) => write!(f, "embedded board/{name}.toml"),
            BoardOrigin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The board TOML as written: deserialized, not yet validated.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    name: String,
    target: String,
    ram_mib: u64,
    memory_budget_mib: u64,
    state_dir: PathBuf,
    stale_ttl_secs: u64,
    capacity: Capacity,
}

impl Board {
    /// The compiled-in board called `name`, validated and budget-checked.
    pub fn embedded(name: &str) -> Option<Result<Board, ConfigError>> {
        EMBEDDED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Board::from_toml_str(text, BoardOrigin::Embedded(n)))
    }

    /// Reads, validates and budget-checks a board file.
    pub fn load(path: &Path) -> Result<Board, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Board::from_toml_str(&text, BoardOrigin::File(path.to_owned()))
    }

    /// Resolves the site's `board` value: a path (contains `/` or ends in `.toml`, relative to
    /// `base_dir`), or a name looked up as `base_dir/board/<name>.toml`, then embedded.
    pub fn resolve(spec: &str, base_dir: &Path) -> Result<Board, ConfigError> {
        if spec.contains('/') || spec.ends_with(".toml") {
            return Board::load(&base_dir.join(spec));
        }
        let local = base_dir.join("board").join(format!("{spec}.toml"));
        if local.is_file() {
            return Board::load(&local);
        }
        Board::embedded(spec).unwrap_or_else(|| {
            let known: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
            Err(ConfigError::invalid(
                "site.board",
                format!(
                    "no board {spec:?}: {} does not exist and the embedded boards are {}",
                    local.display(),
                    known.join(", ")
                ),
            ))
        })
    }

    /// Parses, validates and budget-checks board TOML.
    pub fn from_toml_str(text: &str, origin: BoardOrigin) -> Result<Board, ConfigError> {
        let raw: RawBoard = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: match &origin {
                BoardOrigin::File(p) => p.clone(),
                BoardOrigin::Embedded(n) => PathBuf::from(format!("<embedded board/{n}.toml>")),
            },
            message: e.to_string(),
        })?;
        let board = raw.validate(origin)?;
        board.check_budget()?;
        Ok(board)
    }

    /// Worst-case resident memory implied by the capacities, term by term.
    pub fn worst_case_memory(&self) -> MemoryEstimate {
        let c = &self.capacity;
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        let mut lines = Vec::new();
        let mut term = |label: &'static str, formula: String, bytes: u64| {
            lines.push(MemoryLine {
                label,
                formula,
                bytes,
            });
        };
        let per_agent = AGENT_RECORD_BYTES + KEY_MAP_ENTRY_BYTES;
        term(
            "agents",
            format!(
                "{} × ({AGENT_RECORD_BYTES} B record + {KEY_MAP_ENTRY_BYTES} B key map entry)",
                c.max_agents
            ),
            n(c.max_agents).saturating_mul(per_agent),
        );
        let per_queue = QUEUE_RECORD_BYTES + KEY_MAP_ENTRY_BYTES;
        term(
            "queues",
            format!(
                "{} × ({QUEUE_RECORD_BYTES} B record + {KEY_MAP_ENTRY_BYTES} B key map entry)",
                c.max_queues
            ),
            n(c.max_queues).saturating_mul(per_queue),
        );
        term(
            "zone members",
            format!(
                "{} zones × {} members × {ZONE_MEMBER_BYTES} B",
                c.max_zones, c.max_zone_members
            ),
            n(c.max_zones)
                .saturating_mul(n(c.max_zone_members))
                .saturating_mul(ZONE_MEMBER_BYTES),
        );
        term(
            "event channel",
            format!("{} × {EVENT_BYTES} B", c.event_channel_depth),
            n(c.event_channel_depth).saturating_mul(EVENT_BYTES),
        );
        term(
            "websocket",
            format!("{} B × 2 (read buffer + assembly)", c.ws_max_message_bytes),
            n(c.ws_max_message_bytes).saturating_mul(2),
        );
        term(
            "rest body",
            format!("{} B × 2 (body + parse copy)", c.rest_max_body_bytes),
            n(c.rest_max_body_bytes).saturating_mul(2),
        );
        term(
            "sled",
            format!(
                "{} B cache + {} B fixed overhead",
                c.sled_cache_bytes, SLED_OVERHEAD_BYTES
            ),
            c.sled_cache_bytes.saturating_add(SLED_OVERHEAD_BYTES),
        );
        term(
            "mqtt requests",
            format!("{} × {MQTT_REQUEST_BYTES} B", c.mqtt_request_depth),
            n(c.mqtt_request_depth).saturating_mul(MQTT_REQUEST_BYTES),
        );
        term(
            "mqtt inflight",
            format!("{} × {MQTT_REQUEST_BYTES} B", c.mqtt_inflight),
            u64::from(c.mqtt_inflight).saturating_mul(MQTT_REQUEST_BYTES),
        );
        term(
            "runtime",
            "tokio + TLS + binary (fixed)".to_owned(),
            RUNTIME_OVERHEAD_BYTES,
        );
        MemoryEstimate {
            board: self.name.clone(),
            lines,
            budget: self.memory_budget_mib.saturating_mul(MIB),
        }
    }

    /// Refuses a board whose worst case exceeds `memory_budget_mib`, with the arithmetic.
    pub fn check_budget(&self) -> Result<MemoryEstimate, ConfigError> {
        let estimate = self.worst_case_memory();
        if estimate.fits() {
            Ok(estimate)
        } else {
            Err(ConfigError::OverBudget {
                board: self.name.clone(),
                needed: estimate.total(),
                budget: estimate.budget,
                breakdown: estimate.to_string(),
            })
        }
    }
}

impl RawBoard {
    fn validate(self, origin: BoardOrigin) -> Result<Board, ConfigError> {
        let at = |field: &str, reason: String| {
            ConfigError::invalid(format!("board.{field}"), format!("{reason} (in {origin})"))
        };
        if self.name.is_empty()
            || self.name.len() > NAME_LEN
            || !self.name.bytes().all(super::is_name_byte)
        {
            return Err(at(
                "name",
                format!("{:?} must be 1..={NAME_LEN} of [a-z0-9-_]", self.name),
            ));
        }
        if self.target.is_empty() || self.target.contains(char::is_whitespace) {
            return Err(at("target", "must be a Rust target triple".into()));
        }
        if self.memory_budget_mib == 0 || self.memory_budget_mib > self.ram_mib {
            return Err(at(
                "memory_budget_mib",
                format!(
                    "{} must be in 1..=ram_mib ({})",
                    self.memory_budget_mib, self.ram_mib
                ),
            ));
        }
        if self.state_dir.as_os_str().is_empty() {
            return Err(at("state_dir", "must not be empty".into()));
        }
        if self.stale_ttl_secs == 0 {
            return Err(at("stale_ttl_secs", "must be at least 1".into()));
        }
        let c = &self.capacity;
        let nonzero: [(&str, u64); 12] = [
            (
                "max_agents",
                u64::try_from(c.max_agents).unwrap_or(u64::MAX),
            ),
            (
                "max_queues",
                u64::try_from(c.max_queues).unwrap_or(u64::MAX),
            ),
            ("max_zones", u64::try_from(c.max_zones).unwrap_or(u64::MAX)),
            (
                "max_zone_members",
                u64::try_from(c.max_zone_members).unwrap_or(u64::MAX),
            ),
            (
                "event_channel_depth",
                u64::try_from(c.event_channel_depth).unwrap_or(u64::MAX),
            ),
            (
                "ws_max_message_bytes",
                u64::try_from(c.ws_max_message_bytes).unwrap_or(u64::MAX),
            ),
            (
                "ws_max_frame_bytes",
                u64::try_from(c.ws_max_frame_bytes).unwrap_or(u64::MAX),
            ),
            (
                "rest_max_body_bytes",
                u64::try_from(c.rest_max_body_bytes).unwrap_or(u64::MAX),
            ),
            ("sled_cache_bytes", c.sled_cache_bytes),
            ("mqtt_inflight", u64::from(c.mqtt_inflight)),
            (
                "mqtt_request_depth",
                u64::try_from(c.mqtt_request_depth).unwrap_or(u64::MAX),
            ),
            ("republish_per_second", u64::from(c.republish_per_second)),
        ];
        if let Some((field, _)) = nonzero.iter().find(|(_, v)| *v == 0) {
            return Err(at(
                &format!("capacity.{field}"),
                "must be at least 1".into(),
            ));
        }
        // Limits of the zone table's compact forms.
        let table: [(&str, usize, usize, &str); 2] = [
            (
                "max_zones",
                c.max_zones,
                crate::zones::MAX_ZONES,
                "one bit per zone in zones::ZoneMask",
            ),
            (
                "max_queues",
                c.max_queues,
                crate::zones::MAX_QUEUES,
                "16-bit queue indices in zones and membership lists",
            ),
        ];
        if let Some((field, v, max, why)) = table.iter().find(|(_, v, max, _)| v > max) {
            return Err(at(
                &format!("capacity.{field}"),
                format!("{v} exceeds {max} ({why})"),
            ));
        }
        if c.ws_max_frame_bytes > c.ws_max_message_bytes {
            return Err(at(
                "capacity.ws_max_frame_bytes",
                format!(
                    "{} exceeds ws_max_message_bytes ({})",
                    c.ws_max_frame_bytes, c.ws_max_message_bytes
                ),
            ));
        }
        if c.max_zone_members > c.max_agents {
            return Err(at(
                "capacity.max_zone_members",
                format!(
                    "{} exceeds max_agents ({})",
                    c.max_zone_members, c.max_agents
                ),
            ));
        }
        Ok(Board {
            name: self.name,
            target: self.target,
            ram_mib: self.ram_mib,
            memory_budget_mib: self.memory_budget_mib,
            state_dir: self.state_dir,
            stale_ttl: Duration::from_secs(self.stale_ttl_secs),
            capacity: self.capacity,
            origin,
        })
    }
}

/// One term of the worst-case memory sum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLine {
    /// What the memory is for.
    pub label: &'static str,
    /// How it was computed, in words and numbers.
    pub formula: String,
    /// The result.
    pub bytes: u64,
}

/// Worst-case memory of a board, term by term, with its budget. `Display` prints the
/// arithmetic one line per term, the total and the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Board name.
    pub board: String,
    /// The terms.
    pub lines: Vec<MemoryLine>,
    /// `memory_budget_mib` in bytes.
    pub budget: u64,
}

impl MemoryEstimate {
    /// Sum of all terms (saturating).
    pub fn total(&self) -> u64 {
        self.lines
            .iter()
            .fold(0u64, |sum, line| sum.saturating_add(line.bytes))
    }

    /// True when the total is within the budget.
    pub fn fits(&self) -> bool {
        self.total() <= self.budget
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "worst-case memory for board {}:", self.board)?;
        for line in &self.lines {
            writeln!(
                f,
                "  {:<14} {:<58} = {:>14} B",
                line.label,
                line.formula,
                group(line.bytes)
            )?;
        }
        let total = self.total();
        writeln!(
            f,
            "  {:<14} {:<58} = {:>14} B ({})",
            "total",
            "",
            group(total),
            mib(total)
        )?;
        let verdict = if self.fits() { "fits" } else { "OVER BUDGET" };
        write!(
            f,
            "  {:<14} {:<58} = {:>14} B ({}): {verdict}",
            "budget",
            "memory_budget_mib",
            group(self.budget),
            mib(self.budget)
        )
    }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Bytes as MiB with one decimal, in integer arithmetic.
fn mib(bytes: u64) -> String {
    let tenths = bytes / (MIB / 10);
    format!("{}.{} MiB", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_board_loads_and_fits() {
        for (name, _) in EMBEDDED {
            let board = Board::embedded(name).unwrap().unwrap();
            assert_eq!(board.name, *name);
            let est = board.check_budget().unwrap();
            assert!(est.fits());
            assert_eq!(est.lines.len(), 10);
        }
    }

    #[test]
    fn rpi4_arithmetic_is_exact() {
        let b = Board::embedded("rpi4").unwrap().unwrap();
        let est = b.worst_case_memory();
        let expected = 10_000 * 160
            + 500 * 160
            + 64 * 2000 * 16
            + 4096 * 128
            + 262_144 * 2
            + 1_048_576 * 2
            + 16 * MIB
            + 16 * MIB
            + 1024 * 256
            + 100 * 256
            + 8 * MIB;
        assert_eq!(est.total(), expected);
        let text = est.to_string();
        assert!(
            text.contains("10000 × (96 B record + 64 B key map entry)"),
            "{text}"
        );
        assert!(text.contains("fits"), "{text}");
    }

    #[test]
    fn grouping_and_mib() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(mib(3 * MIB / 2), "1.5 MiB");
    }

    #[test]
    fn frame_larger_than_message_is_refused() {
        let text = EMBEDDED[0]
            .1
            .replace("ws_max_frame_bytes = 262144", "ws_max_frame_bytes = 262145");
        let err = Board::from_toml_str(&text, BoardOrigin::Embedded("t")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("board.capacity.ws_max_frame_bytes:"),
            "{err}"
        );
    }

    #[test]
    fn capacities_past_the_zone_table_forms_are_refused() {
        let (_, text) = EMBEDDED[0];
        for (field, max) in [("max_queues", 65_536), ("max_zones", 64)] {
            let line = text.lines().find(|l| l.starts_with(field)).unwrap();
            let at_cap = text.replace(line, &format!("{field} = {max}"));
            assert!(Board::from_toml_str(&at_cap, BoardOrigin::Embedded("t")).is_ok());
            let over = text.replace(line, &format!("{field} = {}", max + 1));
            let err = Board::from_toml_str(&over, BoardOrigin::Embedded("t")).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("board.capacity.{field}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn zero_capacity_is_refused() {
        let text = EMBEDDED[0]
            .1
            .replace("mqtt_inflight = 100", "mqtt_inflight = 0");
        let err = Board::from_toml_str(&text, BoardOrigin::Embedded("t")).unwrap_err();
        assert!(
            err.to_string().starts_with("board.capacity.mqtt_inflight:"),
            "{err}"
        );
    }
}
