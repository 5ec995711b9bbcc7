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
    // Same text as `format!("{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}")`, without the fmt machinery (one
    // correlation id per delivered notification).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, (v, digits)) in [
        (u64::from(a), 8),
        (u64::from(b), 4),
        (u64::from(c), 4),
        (u64::from(d), 4),
        (e, 12),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        for k in (0..digits).rev() {
            out.push(char::from(HEX[((v >> (4 * k)) & 0xf) as usize]));
        }
    }
    out
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

    #[test]
    fn uuid_text_is_the_formatted_one() {
        let mut a = Rng::with_seed(11);
        let mut b = Rng::with_seed(11);
        for _ in 0..1000 {
            let (hi, lo) = (b.u64(..), b.u64(..));
            let expected = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                (hi >> 32) as u32,
                ((hi >> 16) & 0xffff) as u16,
                ((hi & 0x0fff) | 0x4000) as u16,
                (((lo >> 48) & 0x3fff) | 0x8000) as u16,
                lo & 0xffff_ffff_ffff
            );
            assert_eq!(uuid(&mut a), expected);
        }
    }
}
