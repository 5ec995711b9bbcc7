//! What the bench reads from the operating system: the machine it ran on (CPU model, cores,
//! kernel, load), another process's memory and CPU time from `/proc/<pid>/…`, and the small
//! statistics every figure is reported with (median and min–max over runs).
//!
//! Owns no process and starts nothing; `rig` owns the processes whose numbers it reads.

use std::time::Duration;

/// The machine, as printed above the table.
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, v)| v.trim().to_string());
    let mhz = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| format!(" @ {} MHz", v.trim()))
        .unwrap_or_default();
    let cores = cores();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0.0, |kib| kib as f64 / (1024.0 * 1024.0));
    format!("{model}{mhz}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {kernel}")
}

/// CPUs of the machine (not of this thread's affinity mask, which the bench narrows).
pub fn cores() -> usize {
    let listed = std::fs::read_to_string("/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    if listed > 0 {
        listed
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// The 1-, 5- and 15-minute load averages.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// (VmRSS, VmHWM) of `pid` in KiB; None once it has exited.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        status_field(&text, "VmRSS:")?,
        status_field(&text, "VmHWM:")?,
    ))
}

/// The number after `name` in the text of `/proc/PID/status`.
fn status_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// What VmRSS is made of for `pid`: (RssAnon, RssFile + RssShmem in KiB, threads). The
/// file-backed part is mostly the executable's own pages (text and read-only data), which no
/// heap setting moves; None once it has exited.
pub fn rss_split(pid: u32) -> Option<RssSplit> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| status_field(&text, name);
    Some(RssSplit {
        anon_kib: field("RssAnon:")?,
        file_kib: field("RssFile:")? + field("RssShmem:").unwrap_or(0),
        threads: field("Threads:")?,
    })
}

/// VmRSS split by kind (see [`rss_split`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct RssSplit {
    /// Anonymous pages: heap, stacks, the allocator's arenas.
    pub anon_kib: u64,
    /// File-backed and shared pages: the executable's text and data.
    pub file_kib: u64,
    /// Threads of the process.
    pub threads: u64,
}

/// (VmRSS, VmHWM) of this process in KiB.
pub fn own_rss_kib() -> (u64, u64) {
    rss_kib(std::process::id()).unwrap_or((0, 0))
}

/// CPU time (user + system) `pid` has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name and state.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / clock_ticks()))
}

fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Whether `prog` is an executable on PATH.
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            let p = d.join(prog);
            p.is_file()
                && std::fs::metadata(&p).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    })
}

/// One figure over several runs: the median with its min–max spread.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Every run's value, in run order.
    pub values: Vec<f64>,
}

impl Series {
    /// Adds one run.
    pub fn push(&mut self, v: f64) {
        self.values.push(v);
    }

    /// Number of runs.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// No run.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Median (mean of the two middle values for an even count); NaN when empty.
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// Smallest run.
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    /// Largest run.
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// "median (min–max, n runs)" with `fmt` applied to each number.
    pub fn show(&self, fmt: impl Fn(f64) -> String) -> String {
        match self.len() {
            0 => "not measured".into(),
            1 => format!("{} (1 run)", fmt(self.median())),
            n => format!(
                "{} ({}–{}, {n} runs)",
                fmt(self.median()),
                fmt(self.min()),
                fmt(self.max())
            ),
        }
    }
}

/// Thousands separators: 12345 → "12,345".
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// Set (to 1) in the bench process when it restarted itself with a malloc tunable.
pub const TUNED: &str = "BENCH_MALLOC_TUNED";

/// Starts `cmd` without the bench's own malloc tunable: the gateway, the micro-bench and the
/// probes are measured as they run anywhere else.
pub fn plain_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    if std::env::var_os(TUNED).is_some() {
        cmd.env_remove("GLIBC_TUNABLES").env_remove(TUNED);
    }
    cmd
}
