//! Test kit shared by the unit tests, the end-to-end tests and the bench (compiled for tests
//! and with the `demo` feature, never in the firmware): a tmpfs of the test's own, so a full
//! disk is a real one. (The display-vs-truth comparison is `demo::truth`, a broker on a free
//! port `demo::broker`.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A tmpfs mounted by the test, unmounted on drop (lazily if something still holds it open,
/// as a panicking test's gateway may), so no mount outlives the test; its mount point is
/// removed after.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts one of `size` (`mount -o size=`, e.g. `16m`); Err(why) where that is not
    /// permitted (not root, no `mount`): the caller says so and skips.
    pub fn mount(size: &str) -> Result<Tmpfs, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pg-tmpfs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        let refused = match out {
            Err(e) => Some(format!("cannot run mount: {e}")),
            Ok(o) if !o.status.success() => Some(format!(
                "mount -t tmpfs refused (needs root): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Ok(_) => None,
        };
        if let Some(why) = refused {
            let _ = std::fs::remove_dir(&dir);
            return Err(why);
        }
        Ok(Tmpfs { dir })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Grows a filler file until the disk refuses a write (ENOSPC); returns its path.
    /// `write_all` fills the last block partly before it fails: the disk is full to the page.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler file");
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut c = Command::new("umount");
            if lazy {
                c.arg("-l");
            }
            c.arg(&self.dir).status().is_ok_and(|s| s.success())
        };
        if !umount(false) && !umount(true) {
            eprintln!("could not unmount {}", self.dir.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
