//! Capped, multi-member gunzip on libdeflate: one-shot inflate into a reused buffer sized from
//! the gzip ISIZE trailer (PERF-LIMITS.md: about 2.5x flate2's default and 1.4x zlib-rs).
//!
//! The trailer is a hint, never trusted: a truncated or hostile stream ends in 4 arbitrary
//! bytes. The first buffer is at most `PLAUSIBLE_RATIO` times the input plus a constant, and at
//! most `TRUSTED_FIRST` (so a garbage trailer can claim little); it grows only when libdeflate
//! has really filled it, by at most 4x what was really produced, and it is never zero-filled.
//! Allocation therefore follows the bytes the input actually produces: at most `TRUSTED_FIRST`
//! plus a few times the real output, whatever the cap.
//!
//! The safe `libdeflater` wrapper calls `libdeflate_gzip_decompress`, which stops after the
//! first member and silently ignores whatever follows: a multi-member stream would lose data.
//! We call `libdeflate_gzip_decompress_ex`, which reports the input consumed, and loop over
//! members. That FFI call is the only unsafe code in the project.
#![allow(unsafe_code)]

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_BAD_DATA,
    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE, libdeflate_result_LIBDEFLATE_SUCCESS,
};
use std::ptr::NonNull;

/// Why a gzip stream could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    #[error("not gzip: missing 1f 8b magic at byte {offset}")]
    NotGzip { offset: usize },
    #[error(
        "gzip member at byte {offset} is truncated or corrupt (bad deflate data, CRC or ISIZE)"
    )]
    Corrupt { offset: usize },
    #[error("decompressed size exceeds the cap of {cap} bytes (gzip bomb or oversize input)")]
    TooLarge { cap: usize },
    #[error("libdeflate could not allocate a decompressor")]
    OutOfMemory,
}

/// Where one gzip member of the last input was: its bytes in the input, and where its output
/// ends in the buffer (it starts where the previous member's ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub input: (usize, usize),
    pub output_end: usize,
}

/// A reusable libdeflate decompressor.
#[derive(Debug)]
pub struct Inflater {
    raw: NonNull<libdeflate_decompressor>,
    /// The members of the last successful [`Inflater::gunzip_into`].
    members: Vec<Member>,
}

// SAFETY: a libdeflate decompressor has no thread affinity; `&mut self` on every use means it is
// never used from two threads at once.
unsafe impl Send for Inflater {}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: `raw` came from libdeflate_alloc_decompressor and is freed exactly once.
        unsafe { libdeflate_free_decompressor(self.raw.as_ptr()) }
    }
}

const GZIP_MIN_MEMBER: usize = 18; // 10-byte header + empty deflate block (>= 0) + 8-byte trailer

/// The first buffer offered is at most this many times the compressed input (plus
/// `FIRST_BUFFER_SLACK`). Invocation logs inflate 3-20x; a stream that really inflates more
/// (deflate's limit is about 1032x) grows the buffer by doubling, re-inflating each time.
const PLAUSIBLE_RATIO: usize = 64;
const FIRST_BUFFER_SLACK: usize = 64 * 1024;
/// The most a trailer is believed before the data shows it: every Kinesis or Firehose record
/// (at most 1 MiB compressed) of real logs inflates to less, so the hot path inflates once.
/// A larger file (the CLI on S3 deliveries) grows past it towards the trailer's claim.
const TRUSTED_FIRST: usize = 16 << 20;

impl Inflater {
    /// The gzip members of the last input inflated without error, in order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn new() -> Result<Self, InflateError> {
        // SAFETY: plain allocation call; a null return is handled.
        let raw = unsafe { libdeflate_alloc_decompressor() };
        NonNull::new(raw)
            .map(|raw| Inflater {
                raw,
                members: Vec::new(),
            })
            .ok_or(InflateError::OutOfMemory)
    }

    /// Inflates every gzip member of `input` into `out[..n]` and returns `n`; `out` is reused
    /// across calls (its capacity is kept) and ends `n + padding` long, the `padding` bytes
    /// zeroed for parsers that read past the end (simd-json). Fails rather than exceed `cap`
    /// decompressed bytes.
    pub fn gunzip_into(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        cap: usize,
        padding: usize,
    ) -> Result<usize, InflateError> {
        if input.len() < 2 || input[0] != 0x1f || input[1] != 0x8b {
            return Err(InflateError::NotGzip { offset: 0 });
        }
        // ISIZE of the last member: exact for the usual single-member stream.
        let isize_hint = match input.len() {
            n if n >= GZIP_MIN_MEMBER => input[n - 4..]
                .try_into()
                .map(|b: [u8; 4]| u32::from_le_bytes(b) as usize)
                .unwrap_or(0),
            _ => 0,
        };
        let plausible = input
            .len()
            .saturating_mul(PLAUSIBLE_RATIO)
            .saturating_add(FIRST_BUFFER_SLACK);
        let mut want = isize_hint
            .min(plausible)
            .min(TRUSTED_FIRST)
            .clamp(1, cap.max(1));
        // `out` holds exactly the bytes written so far: its spare capacity is what libdeflate
        // writes into, so nothing is zero-filled (untouched pages cost no memory).
        out.clear();
        self.members.clear();
        let mut written = 0usize;
        let mut pos = 0usize;
        while pos < input.len() {
            let rest = &input[pos..];
            if rest.len() < 2 || rest[0] != 0x1f || rest[1] != 0x8b {
                return Err(InflateError::NotGzip { offset: pos });
            }
            loop {
                let avail = want.min(cap - written);
                out.try_reserve(avail)
                    .map_err(|_| InflateError::OutOfMemory)?;
                let (mut used_in, mut used_out) = (0usize, 0usize);
                // SAFETY: `rest` is valid for `rest.len()` bytes; `out` has len == written and
                // capacity >= written + avail (try_reserve above), so the pointer is valid for
                // `avail` bytes of writes. libdeflate writes at most `avail` bytes and reports
                // what it read and wrote.
                let ret = unsafe {
                    libdeflate_gzip_decompress_ex(
                        self.raw.as_ptr(),
                        rest.as_ptr().cast(),
                        rest.len(),
                        out.as_mut_ptr().add(written).cast(),
                        avail,
                        &mut used_in,
                        &mut used_out,
                    )
                };
                #[allow(non_upper_case_globals)]
                match ret {
                    libdeflate_result_LIBDEFLATE_SUCCESS => {
                        if used_out > avail {
                            return Err(InflateError::Corrupt { offset: pos });
                        }
                        // SAFETY: libdeflate initialised out[written..written + used_out]
                        // (used_out <= avail, within the reserved capacity).
                        unsafe { out.set_len(written + used_out) };
                        written += used_out;
                        self.members.push(Member {
                            input: (pos, pos + used_in.max(1)),
                            output_end: written,
                        });
                        pos += used_in.max(1);
                        break;
                    }
                    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                        // libdeflate really produced `avail` bytes: growth follows the data. The
                        // trailer's claim is taken once the data has come within 4x of it (one
                        // more pass, exact), else the buffer doubles.
                        if written + avail >= cap {
                            return Err(InflateError::TooLarge { cap });
                        }
                        let doubled = want.saturating_mul(2).max(64 * 1024);
                        let claimed = isize_hint.saturating_add(1);
                        want = if claimed > doubled && claimed <= want.saturating_mul(4) {
                            claimed
                        } else {
                            doubled
                        }
                        .min(cap - written);
                        if written == 0 {
                            // nothing to keep: release before reserving more, so the old and
                            // the new buffer are never held together
                            *out = Vec::new();
                        }
                    }
                    libdeflate_result_LIBDEFLATE_BAD_DATA => {
                        return Err(InflateError::Corrupt { offset: pos })
                    }
                    _ => return Err(InflateError::Corrupt { offset: pos }),
                }
            }
            // The next member's size is unknown: offer what the cap leaves, grown on demand.
            want = want.min(cap - written).max(1);
        }
        // Padding for parsers that read past the end (simd-json): initialised zeroes.
        out.try_reserve(padding)
            .map_err(|_| InflateError::OutOfMemory)?;
        out.resize(written + padding, 0);
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn single_member_round_trip() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut out = Vec::new();
        let n = Inflater::new()
            .unwrap()
            .gunzip_into(&gz(&data), &mut out, 1 << 30, 64)
            .unwrap();
        assert_eq!(&out[..n], &data[..]);
        assert_eq!(out.len(), n + 64);
        assert!(out[n..].iter().all(|&b| b == 0), "padding is zeroed");
    }

    #[test]
    fn multi_member_keeps_every_member() {
        // A small member after a large one: the ISIZE hint (last member) is far too small.
        let a: Vec<u8> = b"{\"a\":1}\n".repeat(50_000);
        let b = b"{\"b\":2}\n".to_vec();
        let mut input = gz(&a);
        input.extend(gz(&b));
        input.extend(gz(b""));
        let mut out = Vec::new();
        let n = Inflater::new()
            .unwrap()
            .gunzip_into(&input, &mut out, 1 << 30, 0)
            .unwrap();
        let mut want = a.clone();
        want.extend(&b);
        assert_eq!(&out[..n], &want[..]);
        // the members are told apart: where each is in the input, where its output ends
        let inf = {
            let mut inf = Inflater::new().unwrap();
            inf.gunzip_into(&input, &mut out, 1 << 30, 0).unwrap();
            inf
        };
        let m = inf.members();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].input, (0, gz(&a).len()));
        assert_eq!(
            (m[0].output_end, m[1].output_end, m[2].output_end),
            (a.len(), n, n)
        );
        assert_eq!(m[2].input.1, input.len());
    }

    #[test]
    fn a_garbage_trailer_does_not_size_the_buffer() {
        // A truncated stream ends in arbitrary bytes: here an ISIZE of almost 4 GiB.
        // Log-like text that compresses about 4x (an LCG picks words), so the first half of the
        // stream inflates to less than the plausible first buffer.
        let words: [&[u8]; 6] = [
            b"model ",
            b"tokens ",
            b"{\"a\":",
            b"123, ",
            b"arn:aws ",
            b"\n",
        ];
        let mut x = 7u64;
        let text: Vec<u8> = (0..60_000)
            .flat_map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                words[(x >> 33) as usize % words.len()].iter().copied()
            })
            .collect();
        let good = gz(&text);
        let mut cut = good[..good.len() / 2].to_vec();
        cut.extend(0xffff_fff0u32.to_le_bytes());
        let mut out = Vec::new();
        let err = Inflater::new()
            .unwrap()
            .gunzip_into(&cut, &mut out, 4096 << 20, 0)
            .unwrap_err();
        assert!(matches!(err, InflateError::Corrupt { .. }), "{err:?}");
        let bound = (cut.len() * PLAUSIBLE_RATIO + FIRST_BUFFER_SLACK).min(TRUSTED_FIRST);
        assert!(out.capacity() <= bound, "{} > {bound}", out.capacity());
        // a real stream whose ratio is far past the plausible one still inflates (by growing)
        let zeros = vec![0u8; 8 << 20];
        let n = Inflater::new()
            .unwrap()
            .gunzip_into(&gz(&zeros), &mut out, 64 << 20, 16)
            .unwrap();
        assert_eq!(n, zeros.len());
        assert_eq!(&out[..n], &zeros[..]);
        assert_eq!(out.len(), n + 16);
    }

    #[test]
    fn cap_stops_a_bomb() {
        let zeros = vec![0u8; 10 << 20];
        let bomb = gz(&zeros);
        assert!(bomb.len() < 20_000);
        let err = Inflater::new()
            .unwrap()
            .gunzip_into(&bomb, &mut Vec::new(), 1 << 20, 0)
            .unwrap_err();
        assert_eq!(err, InflateError::TooLarge { cap: 1 << 20 });
    }

    #[test]
    fn typed_errors_for_bad_input() {
        let mut inf = Inflater::new().unwrap();
        let mut out = Vec::new();
        assert_eq!(
            inf.gunzip_into(b"{\"not\":\"gzip\"}", &mut out, 1 << 20, 0),
            Err(InflateError::NotGzip { offset: 0 })
        );
        let good = gz(&b"hello world ".repeat(1000));
        for cut in [3, 10, good.len() / 2, good.len() - 1] {
            let r = inf.gunzip_into(&good[..cut], &mut out, 1 << 20, 0);
            assert_eq!(r, Err(InflateError::Corrupt { offset: 0 }), "cut at {cut}");
        }
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        assert!(inf.gunzip_into(&flipped, &mut out, 1 << 20, 0).is_err());
        let mut trailing = good.clone();
        trailing.extend(b"garbage");
        assert_eq!(
            inf.gunzip_into(&trailing, &mut out, 1 << 20, 0),
            Err(InflateError::NotGzip { offset: good.len() })
        );
        // The decompressor stays usable after errors.
        let n = inf.gunzip_into(&good, &mut out, 1 << 20, 0).unwrap();
        assert_eq!(n, 12_000);
    }
}
