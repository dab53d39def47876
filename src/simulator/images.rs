//! Deterministic stand-in images: JPEG-looking bytes (SOI, a JFIF APP0 segment, filler, EOI)
//! as standard Base64, built once per process. They are not decodable pictures; they let the
//! service and its tests carry, size-limit and return image fields the way real ones would.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Raw size of the small image returned by ordinary scenarios when images are asked for.
const SMALL_BYTES: usize = 1536;
/// Raw size of each of the two large images: two of them make about 3 MB of Base64.
const LARGE_BYTES: usize = 1_150_000;

/// The small image, Base64.
pub(crate) static SMALL: LazyLock<String> = LazyLock::new(|| jpeg_like_base64(1, SMALL_BYTES));
/// The first large image, Base64 (about 1.5 MB).
pub(crate) static LARGE_1: LazyLock<String> = LazyLock::new(|| jpeg_like_base64(2, LARGE_BYTES));
/// The second large image, Base64 (about 1.5 MB), different bytes from the first.
pub(crate) static LARGE_2: LazyLock<String> = LazyLock::new(|| jpeg_like_base64(3, LARGE_BYTES));

/// `len` bytes that start and end like a baseline JPEG, the middle filled from a xorshift
/// generator seeded with `seed` (0xFF avoided so no stray marker appears).
pub(crate) fn jpeg_like(seed: u64, len: usize) -> Vec<u8> {
    const HEAD: [u8; 20] = [
        0xFF, 0xD8, // SOI
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00,
        0x01, 0x00, 0x00, // APP0 JFIF 1.1, 1:1 aspect, no thumbnail
    ];
    const TAIL: [u8; 2] = [0xFF, 0xD9]; // EOI
    let len = len.max(HEAD.len() + TAIL.len());
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&HEAD);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len - TAIL.len() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for byte in state.to_le_bytes() {
            if out.len() == len - TAIL.len() {
                break;
            }
            out.push(byte.min(0xFE));
        }
    }
    out.extend_from_slice(&TAIL);
    out
}

fn jpeg_like_base64(seed: u64, len: usize) -> String {
    STANDARD.encode(jpeg_like(seed, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_jpeg_looking_base64() {
        let a = jpeg_like(7, 100);
        assert_eq!(a, jpeg_like(7, 100));
        assert_ne!(a, jpeg_like(8, 100));
        assert_eq!(a.len(), 100);
        assert_eq!(&a[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
        assert_eq!(&a[98..], &[0xFF, 0xD9]);
        let small = STANDARD.decode(SMALL.as_bytes()).unwrap();
        assert_eq!(small.len(), SMALL_BYTES);
    }

    #[test]
    fn the_two_large_images_make_about_three_megabytes() {
        let total = LARGE_1.len() + LARGE_2.len();
        assert!((2_900_000..3_300_000).contains(&total), "{total}");
        assert_ne!(*LARGE_1, *LARGE_2);
    }
}
