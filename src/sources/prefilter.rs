//! The keyword prefilter: which records could contain a word, at memory speed.
//!
//! Every record is checked before it is parsed; only candidates are parsed. For each word two
//! of its bytes are picked (the rarest in CloudTrail text, by [`FREQ`]), and 32 positions at a
//! time are tested for both at once with AVX2 (a "packed pair" search, case-folded for
//! case-insensitive words); only where both match is the whole word compared. A record's last
//! bytes are tested from a zero-padded copy, so no position is tested one at a time. Without
//! AVX2 a portable loop tests one position at a time.
//!
//! Sound for JSON: a record a JSON parser would read as containing a word is a candidate. A
//! `\u` escape can spell any character without its byte, so a record with `\u` in it is always
//! a candidate (CloudTrail rarely escapes so); the other escapes only spell `"`, `\`, `/` and
//! control characters, so when a word holds one of those, any backslash makes a candidate.

use super::scanner::Engine;

/// How common each byte is in CloudTrail JSON (letters case-folded), in units of 0.04 %,
/// measured on the real datasets in `shared/datasets` (4.2 MB); 0 = never seen.
const FREQ: [u8; 256] = {
    let mut f = [0u8; 256];
    let ascii: [u8; 128] = [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0, //
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
        89, 1, 225, 1, 1, 1, 1, 1, 3, 3, 1, 3, 56, 63, 38, 21, //
        41, 53, 57, 43, 25, 20, 19, 36, 28, 25, 89, 2, 0, 1, 0, 1, //
        1, 148, 24, 73, 62, 211, 27, 23, 24, 86, 8, 11, 36, 53, 94, 67, //
        39, 12, 121, 124, 128, 50, 33, 24, 8, 19, 12, 2, 1, 2, 0, 3, //
        0, 148, 24, 73, 62, 211, 27, 23, 24, 86, 8, 11, 36, 53, 94, 67, //
        39, 12, 121, 124, 128, 50, 33, 24, 8, 19, 12, 12, 0, 12, 0, 0,
    ];
    let mut i = 0;
    while i < 128 {
        f[i] = ascii[i];
        i += 1;
    }
    f
};

/// One word, with the two bytes tested first.
#[derive(Debug, Clone)]
struct Needle {
    /// The word (lower case when matched case-insensitively).
    word: Vec<u8>,
    fold: bool,
    /// Offsets of the two tested bytes in the word.
    i1: usize,
    i2: usize,
    /// The tested bytes (lower case when folded) and the mask OR-ed into the text first
    /// (0x20 for a folded letter, else 0).
    b1: u8,
    b2: u8,
    m1: u8,
    m2: u8,
}

impl Needle {
    fn new(word: &[u8], fold: bool) -> Needle {
        let word: Vec<u8> = if fold {
            word.to_ascii_lowercase()
        } else {
            word.to_vec()
        };
        let rank = |i: usize| (FREQ[word[i] as usize], i);
        let window = word.len().min(WINDOW);
        let i1 = (0..window)
            .min_by_key(|&i| rank(i))
            .expect("non-empty word");
        let i2 = (0..window)
            .filter(|&i| i != i1)
            .min_by_key(|&i| (word[i] == word[i1], rank(i)))
            .unwrap_or(i1);
        let (i1, i2) = (i1.min(i2), i1.max(i2));
        let mask = |b: u8| {
            if fold && b.is_ascii_lowercase() {
                0x20
            } else {
                0
            }
        };
        Needle {
            i1,
            i2,
            b1: word[i1],
            b2: word[i2],
            m1: mask(word[i1]),
            m2: mask(word[i2]),
            fold,
            word,
        }
    }

    /// True when the word occurs at `p` in `hay`.
    #[inline(always)]
    fn at(&self, hay: &[u8], p: usize) -> bool {
        match hay.get(p..p + self.word.len()) {
            Some(w) if self.fold => w.eq_ignore_ascii_case(&self.word),
            Some(w) => w == self.word.as_slice(),
            None => false,
        }
    }

    /// True when the two tested bytes match at `p` (both within `hay`).
    #[inline(always)]
    fn pair_at(&self, hay: &[u8], p: usize) -> bool {
        hay[p + self.i1] | self.m1 == self.b1 && hay[p + self.i2] | self.m2 == self.b2
    }
}

/// Finds records that may contain one of a set of words.
#[derive(Debug, Clone)]
pub struct Prefilter {
    needles: Vec<Needle>,
    /// The largest tested offset over the words (below [`WINDOW`]).
    reach: usize,
    /// Any backslash makes a candidate, not only `\u`: a word holds a byte JSON may write
    /// as a short escape (`"`, `\`, `/`, a control character).
    any_escape: bool,
    engine: Engine,
}

/// The two tested bytes of a word are taken from its first `WINDOW` bytes, so that the
/// padded copy of a record's tail stays small.
const WINDOW: usize = 64;
/// Size of the zero-padded copy of a record's last bytes (fewer than 32 + `WINDOW`), enough
/// for three 32-byte blocks each read up to `WINDOW - 1` bytes further.
const TAIL_BUF: usize = 64 + 32 + WINDOW;

/// True for the bytes JSON may write as a two-byte escape (`\"`, `\\`, `\/`, `\b`, ...).
fn has_short_escape(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | b'/') || b < 0x20
}

impl Prefilter {
    /// A prefilter for `words` (empty ones are ignored), matched ASCII-case-insensitively
    /// when `fold`, exactly otherwise.
    pub fn new<S: AsRef<[u8]>>(words: &[S], fold: bool) -> Prefilter {
        Self::with_engine(words, fold, Engine::detect())
    }

    /// [`Prefilter::new`] with a chosen engine (both give the same answers; tests compare).
    pub fn with_engine<S: AsRef<[u8]>>(words: &[S], fold: bool, engine: Engine) -> Prefilter {
        let needles: Vec<Needle> = words
            .iter()
            .map(|w| w.as_ref())
            .filter(|w| !w.is_empty())
            .map(|w| Needle::new(w, fold))
            .collect();
        let reach = needles.iter().map(|n| n.i2).max().unwrap_or(0).max(1);
        let any_escape = needles
            .iter()
            .any(|n| n.word.iter().any(|&b| has_short_escape(b)));
        Prefilter {
            needles,
            reach,
            any_escape,
            engine,
        }
    }

    /// True when `hay` may contain one of the words once read as JSON: it contains one, or it
    /// contains a `\u` escape (any escape when a word holds a byte JSON may escape). Always
    /// false without words.
    pub fn is_candidate(&self, hay: &[u8]) -> bool {
        if self.needles.is_empty() {
            return false;
        }
        match self.engine {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Engine::Avx2 is only chosen when the CPU has AVX2.
            Engine::Avx2 => unsafe { self.search_avx2(hay) },
            _ => self.search_from(hay, 0),
        }
    }

    /// True when an escape that could spell part of a word starts at `p`.
    #[inline(always)]
    fn escape_at(&self, hay: &[u8], p: usize) -> bool {
        hay[p] == b'\\' && (self.any_escape || hay.get(p + 1) == Some(&b'u'))
    }

    /// Tests every position from `p` on, one at a time (the portable engine).
    fn search_from(&self, hay: &[u8], mut p: usize) -> bool {
        while p < hay.len() {
            if self.escape_at(hay, p) {
                return true;
            }
            for n in &self.needles {
                if p + n.i2 < hay.len() && n.pair_at(hay, p) && n.at(hay, p) {
                    return true;
                }
            }
            p += 1;
        }
        false
    }

    /// Checks the positions `p + bit` for the set bits of `bits` in full.
    #[inline(always)]
    fn verify(&self, hay: &[u8], p: usize, mut bits: u32) -> bool {
        while bits != 0 {
            let q = p + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if self.escape_at(hay, q) || self.needles.iter().any(|nd| nd.at(hay, q)) {
                return true;
            }
        }
        false
    }

    /// 32 positions at a time with AVX2 (see [`Prefilter::scan_avx2`]), specialized for up to
    /// five words (the relevance keywords are five) so that their vectors are made once per
    /// record, not once per block.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn search_avx2(&self, hay: &[u8]) -> bool {
        // SAFETY: the caller's guarantee.
        unsafe {
            match self.needles.len() {
                1 => self.scan_avx2::<1>(hay),
                2 => self.scan_avx2::<2>(hay),
                3 => self.scan_avx2::<3>(hay),
                4 => self.scan_avx2::<4>(hay),
                5 => self.scan_avx2::<5>(hay),
                _ => self.scan_avx2::<0>(hay),
            }
        }
    }

    /// 32 positions at a time; the last ones (fewer than 32 + `reach`) from a zero-padded
    /// copy, so that no position is tested one at a time. `N` is the number of words, or 0 for
    /// any number (looped over).
    ///
    /// # Safety
    /// The CPU must support AVX2; `N` is 0 or the number of words.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn scan_avx2<const N: usize>(&self, hay: &[u8]) -> bool {
        let mut pairs = [avx2::Pair::zero(); N];
        for (p, nd) in pairs.iter_mut().zip(&self.needles) {
            *p = avx2::Pair::of(nd);
        }
        let n = hay.len();
        let span = 32 + self.reach;
        let mut p = 0usize;
        while p + span <= n {
            // SAFETY: the block reads hay[p .. p + 32 + reach].
            let bits = unsafe { avx2::block(hay.as_ptr().add(p), &pairs, &self.needles) };
            if bits != 0 && self.verify(hay, p, bits) {
                return true;
            }
            p += 32;
        }
        if p >= n {
            return false;
        }
        let rest = n - p;
        let mut buf = [0u8; TAIL_BUF];
        buf[..rest].copy_from_slice(&hay[p..]);
        let mut off = 0;
        while off < rest {
            // SAFETY: rest < 32 + reach <= 32 + WINDOW - 1, so off <= 64 and the block reads
            // below off + 32 + reach <= 64 + 32 + WINDOW - 1 < TAIL_BUF.
            let mut bits = unsafe { avx2::block(buf.as_ptr().add(off), &pairs, &self.needles) };
            if rest - off < 32 {
                bits &= (1u32 << (rest - off)) - 1;
            }
            if bits != 0 && self.verify(hay, p + off, bits) {
                return true;
            }
            off += 32;
        }
        false
    }
}

/// The AVX2 block test.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::Needle;

    /// A word's two tested bytes as vectors: the offsets, the masks OR-ed into the text and
    /// the bytes compared with.
    #[derive(Clone, Copy)]
    pub(super) struct Pair {
        i1: usize,
        i2: usize,
        m1: __m256i,
        b1: __m256i,
        m2: __m256i,
        b2: __m256i,
    }

    impl Pair {
        /// A placeholder, replaced before use.
        pub(super) fn zero() -> Pair {
            // SAFETY: offsets and integer vectors: all-zero bytes are a valid value.
            unsafe { std::mem::zeroed() }
        }

        /// The vectors of `nd`.
        #[target_feature(enable = "avx2")]
        pub(super) fn of(nd: &Needle) -> Pair {
            Pair {
                i1: nd.i1,
                i2: nd.i2,
                m1: _mm256_set1_epi8(nd.m1 as i8),
                b1: _mm256_set1_epi8(nd.b1 as i8),
                m2: _mm256_set1_epi8(nd.m2 as i8),
                b2: _mm256_set1_epi8(nd.b2 as i8),
            }
        }
    }

    /// Where both tested bytes of `pair` match at `at + 0..32`, as a vector mask.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn matches(at: *const u8, p: &Pair) -> __m256i {
        // SAFETY: the caller's bound covers offsets up to i2 + 31.
        unsafe {
            let x1 = _mm256_loadu_si256(at.add(p.i1) as *const __m256i);
            let x2 = _mm256_loadu_si256(at.add(p.i2) as *const __m256i);
            _mm256_and_si256(
                _mm256_cmpeq_epi8(_mm256_or_si256(x1, p.m1), p.b1),
                _mm256_cmpeq_epi8(_mm256_or_si256(x2, p.m2), p.b2),
            )
        }
    }

    /// The positions among `at[0..32]` where a backslash is or both tested bytes of a word
    /// match, as bits: the words of `pairs`, or of `needles` when `N` is 0.
    ///
    /// # Safety
    /// The CPU must support AVX2; `at[0 .. 32 + reach]` must be readable, `reach` being the
    /// largest tested offset of the words.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn block<const N: usize>(
        at: *const u8,
        pairs: &[Pair; N],
        needles: &[Needle],
    ) -> u32 {
        // SAFETY: the caller's bound.
        unsafe {
            let mut hit = _mm256_cmpeq_epi8(
                _mm256_loadu_si256(at as *const __m256i),
                _mm256_set1_epi8(b'\\' as i8),
            );
            if N == 0 {
                for nd in needles {
                    hit = _mm256_or_si256(hit, matches(at, &Pair::of(nd)));
                }
            } else {
                for p in pairs {
                    hit = _mm256_or_si256(hit, matches(at, p));
                }
            }
            _mm256_movemask_epi8(hit) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: &[&str] = &["bedrock", "bearertoken", "servicespecificcredential"];

    fn engines(words: &[&str], fold: bool) -> Vec<Prefilter> {
        vec![
            Prefilter::with_engine(words, fold, Engine::Portable),
            Prefilter::with_engine(words, fold, Engine::detect()),
        ]
    }

    /// Checks every engine against a plain search, for the word placed at every offset.
    #[test]
    fn finds_each_word_at_every_offset_in_any_case() {
        for e in engines(WORDS, true) {
            for len in [0usize, 5, 31, 32, 33, 44, 63, 64, 65, 100, 200] {
                let base = vec![b'x'; len];
                assert!(!e.is_candidate(&base));
                for w in WORDS {
                    for p in 0..=len.saturating_sub(w.len()) {
                        if p + w.len() > len {
                            continue;
                        }
                        let mut h = base.clone();
                        h[p..p + w.len()].copy_from_slice(w.to_ascii_uppercase().as_bytes());
                        assert!(e.is_candidate(&h), "{w} at {p} of {len}");
                        // One byte changed: no match.
                        h[p + w.len() - 1] = b'_';
                        assert!(!e.is_candidate(&h), "{w} broken at {p} of {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn unicode_escapes_are_always_candidates() {
        for e in engines(WORDS, true) {
            let mut h = vec![b' '; 300];
            assert!(!e.is_candidate(&h));
            for p in 0..299 {
                h.fill(b' ');
                h[p] = b'\\';
                h[p + 1] = b'u';
                assert!(e.is_candidate(&h), "\\u at {p}");
            }
        }
        assert!(
            !Prefilter::new::<&str>(&[], true).is_candidate(b"\\u0062edrock"),
            "no words, no candidates"
        );
    }

    #[test]
    fn exact_words_are_case_sensitive() {
        for e in engines(&["BedrockAPIKey-q9zp", "AKIAEXAMPLE"], false) {
            let text = br#"{"userName":"BedrockAPIKey-q9zp","k":"x"}"#;
            assert!(e.is_candidate(text));
            assert!(!e.is_candidate(&text.to_ascii_lowercase()));
            assert!(e.is_candidate(&[&[b' '; 40][..], b"AKIAEXAMPLE"].concat()));
        }
    }

    #[test]
    fn short_escapes_count_only_for_words_that_hold_escapable_bytes() {
        let text = br#"{"arn":"arn:aws:iam::111122223333:user\/alice","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
        for e in engines(&["user/alice"], false) {
            assert!(e.is_candidate(text), "\\/ spells /");
        }
        for e in engines(&["alice"], false) {
            assert!(e.is_candidate(text));
        }
        let plain = text
            .to_vec()
            .iter()
            .map(|&b| if b == b'\\' { b' ' } else { b })
            .collect::<Vec<u8>>();
        for e in engines(&["bob"], false) {
            assert!(!e.is_candidate(text), "no word, no \\u: not a candidate");
            assert!(!e.is_candidate(&plain));
        }
    }

    #[test]
    fn words_longer_than_the_window_are_found_at_the_end() {
        let word = format!("{}Z{}", "a".repeat(80), "q".repeat(30));
        for e in engines(&[word.as_str()], false) {
            for pad in [0usize, 1, 31, 32, 33, 100] {
                let mut h = vec![b'x'; pad];
                h.extend_from_slice(word.as_bytes());
                assert!(e.is_candidate(&h), "at {pad}");
                h.pop();
                assert!(!e.is_candidate(&h), "cut at {pad}");
            }
        }
    }

    #[test]
    fn tested_bytes_are_the_rare_ones() {
        let n = Needle::new(b"bedrock", true);
        assert_eq!((n.b1, n.b2), (b'b', b'k'));
        let n = Needle::new(b"a", true);
        assert_eq!((n.i1, n.i2), (0, 0));
    }
}
