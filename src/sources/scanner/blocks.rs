//! Structural classification of JSON text, 64 bytes at a time.
//!
//! For each 64-byte block this computes bit masks (bit `i` is byte `i`): quotes that open or
//! close strings, bytes inside strings, brackets outside strings, and bytes that cannot occur
//! where they are (a byte outside a string that no JSON token contains, a control character
//! inside a string). The string state is carried from block to block, as simdjson's stage 1
//! does; the escape handling is simdjson's `find_escaped_branchless`.
//!
//! Two engines compute the raw byte classes: AVX2 (chosen at run time when the CPU has it) and
//! a portable one (a lookup table); the carries and the masks built from them are shared, so
//! both give identical results (a fuzz target checks this).

/// Raw byte classes of one block, before string state is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Raw {
    pub quote: u64,
    pub backslash: u64,
    /// `{` or `[`.
    pub open: u64,
    /// `}` or `]`.
    pub close: u64,
    /// `{` (to tell objects from arrays; `[` is `open & !brace`).
    pub brace: u64,
    /// Bytes below 0x20.
    pub ctrl: u64,
    /// `\n`.
    pub newline: u64,
    /// Bytes no JSON token outside a string contains (letters other than those of `true`,
    /// `false`, `null` and exponents, `\`, non-ASCII, control characters but whitespace...).
    pub lexbad: u64,
}

/// The masks the splitter walks, for one block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Block {
    /// Brackets outside strings: `{ [ } ]`.
    pub open: u64,
    pub close: u64,
    /// `{` among `open`.
    pub brace: u64,
    /// Newlines outside strings.
    pub newline: u64,
    /// Bytes that make the text invalid JSON where they are.
    pub bad: u64,
}

/// String and escape state carried from one block to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carry {
    /// All ones when the previous block ended inside a string.
    in_string: u64,
    /// 1 when the previous block ended with an unescaped backslash.
    escaped: u64,
}

/// Which engine classifies bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// AVX2 (x86_64 with the feature detected at run time).
    Avx2,
    /// Table lookups, any CPU.
    Portable,
}

impl Engine {
    /// The fastest engine this CPU supports.
    pub fn detect() -> Engine {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                return Engine::Avx2;
            }
        }
        Engine::Portable
    }
}

const CLASS_QUOTE: u8 = 1;
const CLASS_BACKSLASH: u8 = 2;
const CLASS_OPEN: u8 = 4;
const CLASS_CLOSE: u8 = 8;
const CLASS_BRACE: u8 = 16;
const CLASS_CTRL: u8 = 32;
const CLASS_NEWLINE: u8 = 64;
const CLASS_LEXBAD: u8 = 128;

/// True for bytes a JSON token outside a string can contain.
const fn allowed_outside(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b'\r' | b'"' | b',' | b':' | b'[' | b']' | b'{' | b'}' | b'0'
            ..=b'9'
                | b'-'
                | b'+'
                | b'.'
                | b'a'
                | b'e'
                | b'f'
                | b'l'
                | b'n'
                | b'r'
                | b's'
                | b't'
                | b'u'
                | b'E'
    )
}

/// Byte -> class bits, for the portable engine.
static TABLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b == b'"' {
            c |= CLASS_QUOTE;
        }
        if b == b'\\' {
            c |= CLASS_BACKSLASH;
        }
        if b == b'{' || b == b'[' {
            c |= CLASS_OPEN;
        }
        if b == b'}' || b == b']' {
            c |= CLASS_CLOSE;
        }
        if b == b'{' {
            c |= CLASS_BRACE;
        }
        if b < 0x20 {
            c |= CLASS_CTRL;
        }
        if b == b'\n' {
            c |= CLASS_NEWLINE;
        }
        if !allowed_outside(b) {
            c |= CLASS_LEXBAD;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Classifies 64 bytes with the lookup table.
#[inline(always)]
pub fn raw_portable(b: &[u8; 64]) -> Raw {
    let mut r = Raw::default();
    for (i, &x) in b.iter().enumerate() {
        let c = TABLE[x as usize] as u64;
        let bit = 1u64 << i;
        r.quote |= (c & 1) * bit;
        r.backslash |= ((c >> 1) & 1) * bit;
        r.open |= ((c >> 2) & 1) * bit;
        r.close |= ((c >> 3) & 1) * bit;
        r.brace |= ((c >> 4) & 1) * bit;
        r.ctrl |= ((c >> 5) & 1) * bit;
        r.newline |= ((c >> 6) & 1) * bit;
        r.lexbad |= ((c >> 7) & 1) * bit;
    }
    r
}

/// Classifies 64 bytes with AVX2.
///
/// # Safety
/// The CPU must support AVX2; call only from a function compiled with the feature enabled
/// (see [`Engine::detect`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn raw_avx2(b: &[u8; 64]) -> Raw {
    use std::arch::x86_64::*;
    // SAFETY: the caller guarantees AVX2; loads are unaligned and within the 64-byte array.
    unsafe {
        let lo = _mm256_loadu_si256(b.as_ptr() as *const __m256i);
        let hi = _mm256_loadu_si256(b.as_ptr().add(32) as *const __m256i);
        let mask = |v: __m256i| _mm256_movemask_epi8(v) as u32 as u64;
        let both = |f: &dyn Fn(__m256i) -> __m256i| mask(f(lo)) | (mask(f(hi)) << 32);
        let eq = |c: u8| {
            let c = _mm256_set1_epi8(c as i8);
            both(&|v| _mm256_cmpeq_epi8(v, c))
        };
        let x20 = _mm256_set1_epi8(0x20);
        let folded = |c: u8| {
            let c = _mm256_set1_epi8(c as i8);
            both(&|v| _mm256_cmpeq_epi8(_mm256_or_si256(v, x20), c))
        };
        let x1f = _mm256_set1_epi8(0x1f);
        let ctrl = both(&|v| _mm256_cmpeq_epi8(_mm256_max_epu8(v, x1f), x1f));
        // Nibble lookup: a byte is allowed outside strings when the classes of its high and
        // low nibbles share a bit (one bit per high nibble that has allowed bytes).
        let lut_hi = _mm256_setr_epi8(
            1, 0, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0, //
            1, 0, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0,
        );
        let lut_lo = _mm256_setr_epi8(
            LO[0], LO[1], LO[2], LO[3], LO[4], LO[5], LO[6], LO[7], LO[8], LO[9], LO[10], LO[11],
            LO[12], LO[13], LO[14], LO[15], LO[0], LO[1], LO[2], LO[3], LO[4], LO[5], LO[6], LO[7],
            LO[8], LO[9], LO[10], LO[11], LO[12], LO[13], LO[14], LO[15],
        );
        let x0f = _mm256_set1_epi8(0x0f);
        let zero = _mm256_setzero_si256();
        let allowed = |v: __m256i| {
            let h = _mm256_and_si256(_mm256_srli_epi16(v, 4), x0f);
            let l = _mm256_and_si256(v, x0f);
            let c = _mm256_and_si256(
                _mm256_shuffle_epi8(lut_hi, h),
                _mm256_shuffle_epi8(lut_lo, l),
            );
            _mm256_cmpeq_epi8(c, zero)
        };
        Raw {
            quote: eq(b'"'),
            backslash: eq(b'\\'),
            open: folded(b'{'),
            close: folded(b'}'),
            brace: eq(b'{'),
            ctrl,
            newline: eq(b'\n'),
            lexbad: both(&allowed),
        }
    }
}

/// Low-nibble classes for [`raw_avx2`]: bit k is set for low nibbles that, with high nibble
/// `HI_OF_BIT[k]`, make an allowed byte.
const LO: [i8; 16] = {
    // High nibble of each bit: 0x0 (\t \n \r), 0x2 (space " + , - .), 0x3 (digits :),
    // 0x4 (E), 0x5 ([ ]), 0x6 (a e f l n), 0x7 (r s t u { }).
    const HI_OF_BIT: [u8; 7] = [0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7];
    let mut lo = [0i8; 16];
    let mut l = 0;
    while l < 16 {
        let mut bits = 0u8;
        let mut k = 0;
        while k < 7 {
            if allowed_outside((HI_OF_BIT[k] << 4) | l as u8) {
                bits |= 1 << k;
            }
            k += 1;
        }
        lo[l] = bits as i8;
        l += 1;
    }
    lo
};

/// Marks the bytes escaped by a backslash (simdjson's `find_escaped_branchless`).
#[inline(always)]
fn escaped(mut backslash: u64, prev: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    backslash &= !*prev;
    let follows_escape = (backslash << 1) | *prev;
    let odd_starts = backslash & !EVEN & !follows_escape;
    let (seq_even, overflow) = odd_starts.overflowing_add(backslash);
    *prev = overflow as u64;
    let invert = seq_even << 1;
    (EVEN ^ invert) & follows_escape
}

/// Running XOR of the bits from the lowest: bit i = xor of bits 0..=i.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Turns raw classes into the splitter's masks, advancing the carried string state.
#[inline(always)]
pub fn resolve(r: &Raw, carry: &mut Carry) -> Block {
    let esc = escaped(r.backslash, &mut carry.escaped);
    let quote = r.quote & !esc;
    // Bits inside strings, including the opening quote and excluding the closing one.
    let in_string = prefix_xor(quote) ^ carry.in_string;
    carry.in_string = ((in_string as i64) >> 63) as u64;
    let outside = !(in_string | quote);
    Block {
        open: r.open & outside,
        close: r.close & outside,
        brace: r.brace & outside,
        newline: r.newline & outside,
        bad: (r.lexbad & outside) | (r.ctrl & in_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte-at-a-time reference for the masks of `text` (at most 64 bytes, padded). As in
    /// simdjson, a backslash escapes the next byte wherever it is (outside a string it is an
    /// error anyway).
    fn reference(text: &[u8]) -> Block {
        let mut b = Block::default();
        let mut in_str = false;
        let mut esc = false;
        for (i, &c) in text.iter().enumerate() {
            let bit = 1u64 << i;
            let escaped_now = esc;
            esc = !escaped_now && c == b'\\';
            if in_str {
                if c == b'"' && !escaped_now {
                    in_str = false;
                } else if c < 0x20 {
                    b.bad |= bit;
                }
                continue;
            }
            if c == b'"' && !escaped_now {
                in_str = true;
                continue;
            }
            match c {
                b'{' => {
                    b.open |= bit;
                    b.brace |= bit;
                }
                b'[' => b.open |= bit,
                b'}' | b']' => b.close |= bit,
                b'\n' => b.newline |= bit,
                _ => {}
            }
            if !allowed_outside(c) {
                b.bad |= bit;
            }
        }
        b
    }

    fn pad(text: &[u8]) -> [u8; 64] {
        let mut a = [b' '; 64];
        a[..text.len()].copy_from_slice(text);
        a
    }

    fn engines(text: &[u8]) -> Vec<Block> {
        let a = pad(text);
        let mut out = vec![resolve(&raw_portable(&a), &mut Carry::default())];
        #[cfg(target_arch = "x86_64")]
        if Engine::detect() == Engine::Avx2 {
            // SAFETY: AVX2 was detected.
            out.push(resolve(&unsafe { raw_avx2(&a) }, &mut Carry::default()));
        }
        out
    }

    #[test]
    fn masks_match_a_byte_at_a_time_reference() {
        let cases: &[&[u8]] = &[
            br#"{"a":"x{y}","b":[1,2,{"c":null}]}"#,
            br#"{"a":"q\"}[","b":"\\","c":"\\\"{"}"#,
            br#"[true,false,-1.5e+3,"\u00e9\n"]"#,
            b"{\"a\":\"raw\nnewline\"}\n{\"b\":1}",
            br#"{"eventVersion":"1.08","x":hello}"#,
            "{\"é\":\"é\"} é".as_bytes(),
            br#"\\\\\"a"#,
        ];
        for c in cases {
            let want = reference(c);
            for got in engines(c) {
                assert_eq!(got, want, "{}", String::from_utf8_lossy(c));
            }
        }
    }

    #[test]
    fn string_state_carries_across_blocks() {
        let text = format!("{{\"k\":\"{}\\\"{{\"}}", "x".repeat(60));
        let bytes = text.as_bytes();
        let mut carry = Carry::default();
        let mut blocks = Vec::new();
        for chunk in bytes.chunks(64) {
            blocks.push(resolve(&raw_portable(&pad(chunk)), &mut carry));
        }
        // The only brackets outside strings are the first `{` and the last `}`.
        let opens: u32 = blocks.iter().map(|b| b.open.count_ones()).sum();
        let closes: u32 = blocks.iter().map(|b| b.close.count_ones()).sum();
        assert_eq!((opens, closes), (1, 1));
        assert_eq!(blocks.iter().map(|b| b.bad).sum::<u64>(), 0);
    }
}
