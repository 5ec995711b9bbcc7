//! The wallboard on a real terminal: raw mode and the alternate screen (ratatui's crossterm
//! backend), a redraw on each wall-clock second (timers tick together) and on resize, and the
//! quit keys q, Esc and Ctrl-C. The terminal is restored on every way out, a panic included
//! (ratatui's panic hook).
//!
//! Owns the terminal and the key loop only: it draws whatever [`Floor`] the shared mutex holds
//! (filled by `display::Subscriber`) with `display::wallboard`. Blocking: call it from the
//! main thread or `spawn_blocking`, never on a runtime worker.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::wallboard::Wallboard;
use crate::display::Floor;

/// Longest wait between two looks at the stop flag: how late an outside stop (SIGTERM, the
/// demo's shutdown) is noticed.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Why the wallboard closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quit {
    /// The user pressed q, Esc or Ctrl-C.
    Key,
    /// The stop flag was set.
    Stopped,
}

/// Unix time now, in milliseconds.
fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// True for the keys that close the wallboard.
pub fn is_quit_key(code: KeyCode, modifiers: KeyModifiers) -> bool {
    match code {
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => true,
        KeyCode::Char('c') => modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    }
}

/// Shows `board` over `floor` on the terminal until a quit key or `stop`; restores the
/// terminal before returning.
pub fn run(floor: &Mutex<Floor>, board: &Wallboard<'_>, stop: &AtomicBool) -> io::Result<Quit> {
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // Raw mode may be on already: leave the terminal as it was found.
            let _ = ratatui::try_restore();
            return Err(e);
        }
    };
    let result = event_loop(&mut terminal, floor, board, stop);
    let restored = ratatui::try_restore();
    let quit = result?;
    restored?;
    Ok(quit)
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    floor: &Mutex<Floor>,
    board: &Wallboard<'_>,
    stop: &AtomicBool,
) -> io::Result<Quit> {
    let mut next_draw = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Quit::Stopped);
        }
        let now = Instant::now();
        if now >= next_draw {
            let ms = now_ms();
            let snapshot = floor.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let now_s = u64::try_from(ms / 1000).unwrap_or(u64::MAX);
            terminal.draw(|f| board.render(f.area(), f.buffer_mut(), &snapshot, now_s))?;
            // Next draw just after the next whole second, so every timer ticks at once.
            let to_next_second = 1000 - u64::try_from(ms % 1000).unwrap_or(0) + 5;
            next_draw = now + Duration::from_millis(to_next_second);
        }
        let wait = next_draw
            .saturating_duration_since(Instant::now())
            .min(STOP_POLL);
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k)
                    if k.kind != KeyEventKind::Release && is_quit_key(k.code, k.modifiers) =>
                {
                    return Ok(Quit::Key);
                }
                Event::Resize(..) => next_draw = Instant::now(),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quit_keys() {
        assert!(is_quit_key(KeyCode::Char('q'), KeyModifiers::NONE));
        assert!(is_quit_key(KeyCode::Esc, KeyModifiers::NONE));
        assert!(is_quit_key(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(!is_quit_key(KeyCode::Char('c'), KeyModifiers::NONE));
        assert!(!is_quit_key(KeyCode::Enter, KeyModifiers::NONE));
    }
}
