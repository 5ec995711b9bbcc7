//! The reference wallboard's drawing: a pure function from a decoded [`Floor`] and the wall
//! clock (Unix seconds) to a ratatui [`Buffer`]. Queue tiles coloured by the frame's `level`,
//! agent tiles coloured by presence and routing with live time-in-status timers, a banner when
//! the gateway's `$state` is not `online`, the zone's roster and the last hour of its heatmap.
//!
//! Owns layout, labels and colours only: no terminal, no I/O, no clock (the caller passes
//! `now_s`), so a test renders into a `Buffer` and compares text and colours. The terminal loop
//! that shows it is `display::term`; the data comes from `display::floor`.

use presence_wire::{AgentFrame, Interaction, Level, Media, Presence, QueueFrame, Routing};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Sparkline, Widget};

use crate::display::floor::{figure, UNKNOWN};
use crate::display::Floor;

/// Queue tile size in cells (border included): two columns of `label value` over five rows.
pub const QUEUE_TILE: (u16, u16) = (32, 7);

/// Agent tile size in cells (border included): presence, routing and interaction rows.
pub const AGENT_TILE: (u16, u16) = (26, 5);

/// Minutes of the heatmap shown in the activity row (the frame holds 24 h), one cell each:
/// the row is `ACTIVITY to HH:MM`, the sparkline, then the last hour's peak and the day's total.
pub const HEATMAP_SHOWN_MINUTES: usize = 60;

/// Colour of a queue tile: the gateway computed the level from the zone's thresholds.
pub fn level_colour(level: Level) -> Color {
    match level {
        Level::Normal => Color::Green,
        Level::Warning => Color::Yellow,
        Level::Critical => Color::Red,
    }
}

/// Colour of an agent tile, from presence refined by routing and the current interaction:
/// green ready, cyan on an interaction, magenta in wrap-up, red busy or not responding,
/// yellow away, blue training, grey offline or unknown.
pub fn agent_colour(a: &AgentFrame) -> Color {
    if a.flags & AgentFrame::WRAPUP != 0 {
        return Color::Magenta;
    }
    match a.presence {
        Presence::OnQueue | Presence::Available => match a.routing {
            Routing::NotResponding => Color::Red,
            Routing::Interacting | Routing::Communicating => Color::Cyan,
            _ if a.media != Media::None => Color::Cyan,
            _ => Color::Green,
        },
        Presence::Busy | Presence::Meeting => Color::Red,
        Presence::Away | Presence::Break | Presence::Meal | Presence::Idle => Color::Yellow,
        Presence::Training => Color::Blue,
        Presence::Offline | Presence::Unknown => Color::DarkGray,
    }
}

/// Time since `since` (Unix seconds) as `mm:ss`, `h:mm:ss` past an hour, `Nd hh h` past a
/// day; `--:--` when unknown (0). A `since` in the future (clock skew) shows `00:00`.
pub fn elapsed(now_s: u64, since: u32) -> String {
    if since == 0 {
        return "--:--".into();
    }
    duration(now_s.saturating_sub(u64::from(since)))
}

/// A duration in seconds as `mm:ss`, `h:mm:ss`, or `Nd hhh` from a day on.
pub fn duration(secs: u64) -> String {
    match secs {
        0..3600 => format!("{:02}:{:02}", secs / 60, secs % 60),
        3600..86_400 => format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
        _ => format!("{}d {:02}h", secs / 86_400, secs / 3600 % 24),
    }
}

fn presence_label(p: Presence) -> &'static str {
    match p {
        Presence::Unknown => "Unknown",
        Presence::Available => "Available",
        Presence::Away => "Away",
        Presence::Busy => "Busy",
        Presence::Offline => "Offline",
        Presence::Idle => "Idle",
        Presence::OnQueue => "On Queue",
        Presence::Meal => "Meal",
        Presence::Training => "Training",
        Presence::Meeting => "Meeting",
        Presence::Break => "Break",
    }
}

fn routing_label(r: Routing) -> &'static str {
    match r {
        Routing::Unknown => "",
        Routing::OffQueue => "Off queue",
        Routing::Idle => "Idle",
        Routing::Interacting => "Interacting",
        Routing::NotResponding => "Not responding",
        Routing::Communicating => "Communicating",
    }
}

fn media_label(m: Media) -> &'static str {
    match m {
        Media::None => "",
        Media::Call => "Call",
        Media::Callback => "Callback",
        Media::Chat => "Chat",
        Media::Email => "Email",
        Media::Message => "Message",
        Media::Video => "Video",
        Media::Other => "Other",
    }
}

fn interaction_label(i: Interaction) -> &'static str {
    match i {
        Interaction::None => "",
        Interaction::Alerting => "ringing",
        Interaction::Dialing => "dialing",
        Interaction::Connected => "connected",
        Interaction::Held => "held",
        Interaction::Disconnected => "ended",
    }
}

fn level_label(l: Level) -> &'static str {
    match l {
        Level::Normal => "NORMAL",
        Level::Warning => "WARNING",
        Level::Critical => "CRITICAL",
    }
}

/// An id cut to its first 8 characters (a UUID's first group), for tiles without a name.
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(8) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// Seconds of the day as `HH:MM:SS` (UTC).
fn clock(unix_s: u64) -> String {
    let day = unix_s % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60)
}

/// The wallboard with its labels; [`render`] draws one with none.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wallboard<'a> {
    /// Shown in the header after the name, e.g. `site lyon-1 · zone floor-2`.
    pub title: &'a str,
    /// Shown at the end of the footer, e.g. where the log goes.
    pub footer: &'a str,
}

/// Draws `floor` as of `now_s` (Unix seconds) into `area` of `buf`, without labels.
pub fn render(area: Rect, buf: &mut Buffer, floor: &Floor, now_s: u64) {
    Wallboard::default().render(area, buf, floor, now_s);
}

/// Writes `text` at (`x`, `y`) clipped to `width` cells.
fn put(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style) {
    if width > 0 {
        buf.set_stringn(x, y, text, usize::from(width), style);
    }
}

/// Fills row `y` of `area` with `style` and writes `left` and right-aligned `right` on it.
fn bar(buf: &mut Buffer, area: Rect, y: u16, left: &str, right: &str, style: Style) {
    buf.set_style(Rect::new(area.x, y, area.width, 1), style);
    put(buf, area.x, y, area.width, left, style);
    let right_w = u16::try_from(right.chars().count()).unwrap_or(u16::MAX);
    let left_w = u16::try_from(left.chars().count()).unwrap_or(u16::MAX);
    if right_w > 0 && left_w.saturating_add(right_w) < area.width {
        put(buf, area.right() - right_w, y, right_w, right, style);
    }
}

/// Where `count` tiles of `tile` size go in `area`, row by row, left to right: as many as fit.
fn grid(area: Rect, tile: (u16, u16), count: usize) -> Vec<Rect> {
    let cols = (area.width / tile.0).max(1);
    let rows = area.height / tile.1;
    let mut out = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            if out.len() == count {
                return out;
            }
            let width = tile.0.min(area.width);
            out.push(Rect::new(
                area.x + c * tile.0,
                area.y + r * tile.1,
                width,
                tile.1,
            ));
        }
    }
    out
}

/// Rows needed for `count` tiles of `tile` size in `width` cells.
fn rows_for(width: u16, tile: (u16, u16), count: usize) -> u16 {
    let cols = usize::from((width / tile.0).max(1));
    u16::try_from(count.div_ceil(cols)).unwrap_or(u16::MAX)
}

impl Wallboard<'_> {
    /// Draws `floor` as of `now_s` (Unix seconds) into `area` of `buf`.
    pub fn render(&self, area: Rect, buf: &mut Buffer, floor: &Floor, now_s: u64) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let mut y = area.y;
        let bottom = area.bottom();
        self.header(area, y, buf, floor, now_s);
        y += 1;
        if y < bottom {
            if let Some((text, style)) = banner(floor.gateway_state.as_deref()) {
                bar(buf, area, y, &text, "", style);
                y += 1;
            }
        }
        // Bottom rows, from the last up: footer, then the heatmap if there is one.
        let mut end = bottom;
        let mut agents_hidden = 0usize;
        let footer_y = (end > y).then(|| {
            end -= 1;
            end
        });
        let heatmap_y = (floor.heatmap.is_some() && end > y).then(|| {
            end -= 1;
            end
        });
        let body = Rect::new(area.x, y, area.width, end.saturating_sub(y));

        // Queues take what they need, but leave at least half the body to agents if any.
        let mut agent_area = body;
        if !floor.queues.is_empty() && body.height > 1 {
            let need = rows_for(body.width, QUEUE_TILE, floor.queues.len()) * QUEUE_TILE.1;
            let cap = if floor.agents.is_empty() {
                body.height - 1
            } else {
                ((body.height - 1) / 2 / QUEUE_TILE.1).max(1) * QUEUE_TILE.1
            };
            let height = need.min(cap).min(body.height - 1);
            let tiles = Rect::new(body.x, body.y + 1, body.width, height);
            let slots = grid(tiles, QUEUE_TILE, floor.queues.len());
            let hidden = floor.queues.len() - slots.len();
            let mut label = format!(" QUEUES {}", floor.queues.len());
            if hidden > 0 {
                label.push_str(&format!(" ({hidden} not shown)"));
            }
            put(buf, body.x, body.y, body.width, &label, bold());
            for (slot, (id, q)) in slots.iter().zip(&floor.queues) {
                let name = floor
                    .queue_names
                    .get(id)
                    .map_or(short_id(id), String::as_str);
                queue_tile(buf, *slot, name, q);
            }
            let used = 1 + height;
            agent_area = Rect::new(body.x, body.y + used, body.width, body.height - used);
        }
        if !floor.agents.is_empty() && agent_area.height > 1 {
            let mut agents: Vec<(&str, &String, &AgentFrame)> = floor
                .agents
                .iter()
                .map(|(id, a)| {
                    let name = floor.names.get(id).map_or(short_id(id), String::as_str);
                    (name, id, a)
                })
                .collect();
            agents.sort_by(|a, b| {
                a.0.to_lowercase()
                    .cmp(&b.0.to_lowercase())
                    .then_with(|| a.1.cmp(b.1))
            });
            let tiles = Rect::new(
                agent_area.x,
                agent_area.y + 1,
                agent_area.width,
                agent_area.height - 1,
            );
            let slots = grid(tiles, AGENT_TILE, agents.len());
            agents_hidden = agents.len() - slots.len();
            let mut label = format!(" AGENTS {}", agents.len());
            if agents_hidden > 0 {
                label.push_str(&format!(" ({agents_hidden} not shown)"));
            }
            put(
                buf,
                agent_area.x,
                agent_area.y,
                agent_area.width,
                &label,
                bold(),
            );
            for (slot, (name, _, a)) in slots.iter().zip(&agents) {
                agent_tile(buf, *slot, name, a, now_s);
            }
        } else if floor.agents.is_empty() && floor.queues.is_empty() && body.height > 0 {
            put(
                buf,
                body.x,
                body.y,
                body.width,
                " no agent or queue frames yet",
                Style::new().fg(Color::DarkGray),
            );
        }
        if let (Some(hy), Some(h)) = (heatmap_y, floor.heatmap.as_ref()) {
            heatmap_row(buf, Rect::new(area.x, hy, area.width, 1), h);
        }
        if let Some(fy) = footer_y {
            let mut left = format!(
                " q quit · frames {} · gaps {} · bad {} · cleared {}",
                floor.frames, floor.seq_gaps, floor.bad_frames, floor.cleared
            );
            if agents_hidden > 0 {
                left.push_str(&format!(" · {agents_hidden} agents not shown"));
            }
            let right = if self.footer.is_empty() {
                String::new()
            } else {
                format!("{} ", self.footer)
            };
            bar(
                buf,
                area,
                fy,
                &left,
                &right,
                Style::new().fg(Color::Gray).bg(Color::Black),
            );
        }
    }

    fn header(&self, area: Rect, y: u16, buf: &mut Buffer, floor: &Floor, now_s: u64) {
        let mut left = String::from(" PRESENCE WALLBOARD");
        if !self.title.is_empty() {
            left.push_str(" · ");
            left.push_str(self.title);
        }
        match &floor.roster {
            Some(r) => left.push_str(&format!(
                " · agents {}/{} · queues {}/{}",
                floor.agents.len(),
                r.agents,
                floor.queues.len(),
                r.queues
            )),
            None => left.push_str(&format!(
                " · agents {} · queues {}",
                floor.agents.len(),
                floor.queues.len()
            )),
        }
        if let Some(s) = floor.session {
            left.push_str(&format!(" · session {s}"));
        }
        let right = format!("{} UTC ", clock(now_s));
        bar(
            buf,
            area,
            y,
            &left,
            &right,
            Style::new()
                .fg(Color::White)
                .bg(Color::Blue)
                .add_modifier(Modifier::BOLD),
        );
    }
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The banner for a `$state` other than `online`: red when the gateway was lost (its last
/// will: the figures are frozen), grey when it stopped or has not been heard from.
pub fn banner(state: Option<&str>) -> Option<(String, Style)> {
    let grey = Style::new()
        .fg(Color::White)
        .bg(Color::DarkGray)
        .add_modifier(Modifier::BOLD);
    match state {
        Some("online") => None,
        Some("lost") => Some((
            " GATEWAY LOST: connection to the gateway lost; figures are frozen at the last known state"
                .into(),
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        )),
        Some("offline") => Some((
            " GATEWAY OFFLINE: the gateway stopped; figures are the last known state".into(),
            grey,
        )),
        Some(other) => Some((
            format!(" GATEWAY {}: state unknown", other.to_uppercase()),
            grey,
        )),
        None => Some((" WAITING FOR THE GATEWAY: no $state yet".into(), grey)),
    }
}

/// One label/value cell of a queue tile: label left, value right-aligned in 14 cells (a
/// longer value pushes into the 15th, the gap between the two columns).
fn cell(label: &str, value: &str) -> String {
    let width = 14usize
        .saturating_sub(value.chars().count())
        .max(label.chars().count() + 1);
    format!("{label:<width$}{value}")
}

fn queue_tile(buf: &mut Buffer, area: Rect, name: &str, q: &QueueFrame) {
    let colour = level_colour(q.level);
    let title = Style::new()
        .fg(Color::Black)
        .bg(colour)
        .add_modifier(Modifier::BOLD);
    let block = Block::bordered()
        .border_style(Style::new().fg(colour))
        .title(Line::from(Span::styled(format!(" {name} "), title)))
        .title_top(
            Line::from(Span::styled(format!(" {} ", level_label(q.level)), title)).right_aligned(),
        );
    let inner = block.inner(area);
    block.render(area, buf);
    let sl = q
        .service_level_pct
        .map_or_else(|| UNKNOWN.to_string(), |p| format!("{p}%"));
    let waiting = format!("{:>5}", figure(q.waiting));
    let rows: [(String, String); 5] = [
        (
            String::new(),
            cell(
                "Longest",
                &q.longest_waiting_s
                    .map_or_else(|| UNKNOWN.to_string(), |s| duration(u64::from(s))),
            ),
        ),
        (
            cell("On queue", &figure(q.on_queue)),
            cell("Off queue", &figure(q.off_queue)),
        ),
        (
            cell("Interact", &figure(q.interacting)),
            cell("Alerting", &figure(q.alerting)),
        ),
        (
            cell("Offered", &figure(q.offered)),
            cell("Answered", &figure(q.answered)),
        ),
        (cell("Abandon", &figure(q.abandoned)), cell("SL", &sl)),
    ];
    for (i, (left, right)) in rows.iter().enumerate() {
        let Ok(dy) = u16::try_from(i) else { break };
        if dy >= inner.height {
            break;
        }
        let y = inner.y + dy;
        if i == 0 {
            put(buf, inner.x, y, inner.width, "Waiting  ", Style::new());
            put(
                buf,
                inner.x + 9,
                y,
                inner.width.saturating_sub(9),
                &waiting,
                Style::new().fg(colour).add_modifier(Modifier::BOLD),
            );
        } else {
            put(buf, inner.x, y, inner.width, left, Style::new());
        }
        put(
            buf,
            inner.x + 15,
            y,
            inner.width.saturating_sub(15),
            right,
            Style::new(),
        );
    }
}

/// A row with `left` at the start and `right` at the end of `width` cells.
fn spread(buf: &mut Buffer, x: u16, y: u16, width: u16, left: &str, right: &str, ls: Style) {
    put(buf, x, y, width, left, ls);
    let rw = u16::try_from(right.chars().count()).unwrap_or(u16::MAX);
    if rw < width {
        put(buf, x + width - rw, y, rw, right, Style::new());
    }
}

fn agent_tile(buf: &mut Buffer, area: Rect, name: &str, a: &AgentFrame, now_s: u64) {
    let colour = agent_colour(a);
    let title = Style::new()
        .fg(Color::Black)
        .bg(colour)
        .add_modifier(Modifier::BOLD);
    let max_name = usize::from(AGENT_TILE.0.saturating_sub(4));
    let shown: String = name.chars().take(max_name).collect();
    let mut block = Block::bordered()
        .border_style(Style::new().fg(colour))
        .title(Line::from(Span::styled(format!(" {shown} "), title)));
    let stale = a.flags & AgentFrame::STALE != 0;
    if stale {
        block = block.title_bottom(
            Line::from(Span::styled(
                " STALE ",
                Style::new()
                    .fg(Color::White)
                    .bg(Color::DarkGray)
                    .add_modifier(Modifier::BOLD),
            ))
            .right_aligned(),
        );
    }
    if a.flags & AgentFrame::OUT_OF_OFFICE != 0 {
        block = block.title_bottom(
            Line::from(Span::styled(
                " OUT OF OFFICE ",
                Style::new()
                    .fg(Color::Black)
                    .bg(Color::Gray)
                    .add_modifier(Modifier::BOLD),
            ))
            .left_aligned(),
        );
    }
    let inner = block.inner(area);
    block.render(area, buf);
    let mut rows: Vec<(String, String, Style)> = vec![(
        presence_label(a.presence).to_string(),
        elapsed(now_s, a.presence_since),
        Style::new().fg(colour).add_modifier(Modifier::BOLD),
    )];
    let routing = routing_label(a.routing);
    rows.push(if routing.is_empty() {
        (String::new(), String::new(), Style::new())
    } else {
        (
            routing.to_string(),
            elapsed(now_s, a.routing_since),
            Style::new(),
        )
    });
    let wrapup = a.flags & AgentFrame::WRAPUP != 0;
    if a.media != Media::None || wrapup {
        let what = if wrapup {
            format!("Wrap-up {}", media_label(a.media))
        } else {
            format!(
                "{} {}",
                media_label(a.media),
                interaction_label(a.interaction)
            )
        };
        let style = if wrapup {
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Cyan)
        };
        rows.push((
            what.trim_end().to_string(),
            elapsed(now_s, a.interaction_since),
            style,
        ));
    }
    for (i, (left, right, style)) in rows.iter().enumerate() {
        let Ok(dy) = u16::try_from(i) else { break };
        if dy >= inner.height {
            break;
        }
        spread(buf, inner.x, inner.y + dy, inner.width, left, right, *style);
    }
}

fn heatmap_row(buf: &mut Buffer, area: Rect, h: &presence_wire::HeatmapFrame) {
    /// Cells kept for the numbers after the sparkline.
    const STATS_MIN: usize = 20;
    let label = format!(
        " ACTIVITY to {} ",
        &clock(u64::from(h.end_minute) * 60)[..5]
    );
    let label_w = label.chars().count();
    let shown = HEATMAP_SHOWN_MINUTES
        .min(usize::from(area.width).saturating_sub(label_w + STATS_MIN))
        .min(h.counts.0.len());
    let recent = &h.counts.0[h.counts.0.len() - shown..];
    let max = recent.iter().copied().max().unwrap_or(0);
    let total: u64 = h.counts.0.iter().map(|&c| u64::from(c)).sum();
    put(buf, area.x, area.y, area.width, &label, bold());
    let spark_x = area.x + u16::try_from(label_w).unwrap_or(0);
    let spark_w = u16::try_from(shown).unwrap_or(0);
    if spark_w > 0 && spark_x + spark_w <= area.right() {
        Sparkline::default()
            .data(recent.iter().map(|&c| u64::from(c)))
            .max(u64::from(max).max(1))
            .style(Style::new().fg(Color::Cyan))
            .render(Rect::new(spark_x, area.y, spark_w, 1), buf);
    }
    let stats = format!(" max {max}/min, day {total}");
    let x = spark_x + spark_w;
    put(
        buf,
        x,
        area.y,
        area.right().saturating_sub(x),
        &stats,
        Style::new(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_read_as_a_wallboard_shows_them() {
        assert_eq!(elapsed(1_000, 0), "--:--");
        assert_eq!(elapsed(1_075, 1_000), "01:15");
        assert_eq!(elapsed(1_000, 2_000), "00:00");
        assert_eq!(duration(3_599), "59:59");
        assert_eq!(duration(3_600), "1:00:00");
        assert_eq!(duration(7_384), "2:03:04");
        assert_eq!(duration(90_000), "1d 01h");
    }

    #[test]
    fn colours_follow_level_presence_and_routing() {
        assert_eq!(level_colour(Level::Critical), Color::Red);
        assert_eq!(level_colour(Level::Warning), Color::Yellow);
        let mut a = AgentFrame {
            presence: Presence::OnQueue,
            routing: Routing::Idle,
            ..AgentFrame::default()
        };
        assert_eq!(agent_colour(&a), Color::Green);
        a.routing = Routing::Interacting;
        assert_eq!(agent_colour(&a), Color::Cyan);
        a.flags = AgentFrame::WRAPUP;
        assert_eq!(agent_colour(&a), Color::Magenta);
        a.flags = 0;
        a.routing = Routing::NotResponding;
        assert_eq!(agent_colour(&a), Color::Red);
        a.presence = Presence::Break;
        assert_eq!(agent_colour(&a), Color::Yellow);
        a.presence = Presence::Offline;
        assert_eq!(agent_colour(&a), Color::DarkGray);
    }

    #[test]
    fn short_ids_and_banners() {
        assert_eq!(short_id("9ed7d9f6-0c59"), "9ed7d9f6");
        assert_eq!(short_id("abc"), "abc");
        assert!(banner(Some("online")).is_none());
        assert_eq!(banner(Some("lost")).unwrap().1.bg, Some(Color::Red));
        assert_eq!(banner(None).unwrap().1.bg, Some(Color::DarkGray));
    }

    #[test]
    fn tiny_areas_do_not_panic() {
        let floor = Floor {
            gateway_state: Some("lost".into()),
            ..Floor::default()
        };
        for (w, h) in [(0, 0), (1, 1), (5, 2), (20, 3), (40, 8)] {
            let area = Rect::new(0, 0, w, h);
            let mut buf = Buffer::empty(area);
            render(area, &mut buf, &floor, 0);
        }
    }
}
