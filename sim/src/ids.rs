//! Identifier shapes: UUIDs, channel ids (`streaming-N-<26 lowercase alnum>`), opaque tokens.
//!
//! Owns: formatting random bits into the shapes Genesys uses. Does not own the RNGs (callers pass them, so the
//! population stays deterministic while tokens come from entropy).

use fastrand::Rng;

/// A version-4-shaped UUID string from `rng`.
pub(crate) fn uuid(rng: &mut Rng) -> String {
    let hi = rng.u64(..);
    let lo = rng.u64(..);
    let a = (hi >> 32) as u32;
    let b = ((hi >> 16) & 0xffff) as u16;
    let c = ((hi & 0x0fff) | 0x4000) as u16;
    let d = (((lo >> 48) & 0x3fff) | 0x8000) as u16;
    let e = lo & 0xffff_ffff_ffff;
    format!("{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}")
}

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn pick(rng: &mut Rng, set: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(set[rng.usize(..set.len())]))
        .collect()
}

/// A channel id like the real `streaming-2-aa5h48uk0srhpugh2994klj918`.
pub(crate) fn channel_id(rng: &mut Rng) -> String {
    format!("streaming-{}-{}", rng.u8(0..10), pick(rng, LOWER_ALNUM, 26))
}

/// An opaque bearer token (86 url-safe chars, like Genesys' long opaque tokens).
pub(crate) fn token(rng: &mut Rng) -> String {
    pick(rng, TOKEN_CHARS, 86)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let mut rng = Rng::with_seed(7);
        let u = uuid(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        let c = channel_id(&mut rng);
        let tail = c.rsplit('-').next().unwrap_or_default();
        assert!(c.starts_with("streaming-"));
        assert_eq!(tail.len(), 26);
        assert!(tail.bytes().all(|b| LOWER_ALNUM.contains(&b)));
    }
}
