//! `--shard K/N`: splitting the inputs between N workers, deterministically, by the
//! CloudTrail layout.
//!
//! Every worker sees the same listing and keeps the log files whose shard key hashes to its
//! own index. The key is a file's account, region and day (from its CloudTrail file name
//! `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_...`), so a day's files stay together; on a hot
//! day (more than [`HOT_DAY_FILES`] files for one account and region in the listing) the
//! file name's hour is added, so a busy day is spread over the workers too. Files with other
//! names are keyed by their whole name, standard input belongs to shard 0, and each
//! LookupEvents region is one key. Each worker's `events --format parquet` output can then be
//! read back together (`keytrail scan shard-*.parquet`) to run the rules over the union.

use std::collections::HashMap;

/// Files per account, region and day above which a day is split by hour.
pub const HOT_DAY_FILES: usize = 288;

/// This worker's share: index `k` (0-based) of `n` shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `K/N` (0 <= K < N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s:?}: use K/N with 0 <= K < N, e.g. 0/4 (K counts from 0)");
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// True when `key` belongs to this shard.
    pub fn owns(&self, key: &str) -> bool {
        fnv1a(key.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }

    /// Which of `names` (file paths or object keys, one listing) this shard reads.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> Vec<bool> {
        let parsed: Vec<Option<Layout>> = names.iter().map(|n| Layout::of(n.as_ref())).collect();
        let mut per_day: HashMap<(&str, &str, &str), usize> = HashMap::new();
        for l in parsed.iter().flatten() {
            *per_day.entry((l.account, l.region, l.day)).or_default() += 1;
        }
        names
            .iter()
            .zip(&parsed)
            .map(|(name, l)| {
                let key = match l {
                    Some(l) if per_day[&(l.account, l.region, l.day)] > HOT_DAY_FILES => {
                        format!("{}/{}/{}T{}", l.account, l.region, l.day, l.hour)
                    }
                    Some(l) => format!("{}/{}/{}", l.account, l.region, l.day),
                    None => name.as_ref().to_string(),
                };
                self.owns(&key)
            })
            .collect()
    }
}

/// What a CloudTrail log file name says about where its events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout<'a> {
    account: &'a str,
    region: &'a str,
    /// `YYYYMMDD`
    day: &'a str,
    /// `HH`
    hour: &'a str,
}

impl<'a> Layout<'a> {
    /// Reads `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_...` from the last path segment.
    fn of(path: &'a str) -> Option<Layout<'a>> {
        let file = path.rsplit(['/', '\\']).next()?;
        let mut parts = file.split('_');
        let account = parts.next()?;
        if parts.next()? != "CloudTrail" {
            return None;
        }
        let region = parts.next()?;
        let stamp = parts.next()?;
        let (day, rest) = stamp.split_once('T')?;
        let ok = account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && day.len() == 8
            && day.bytes().all(|b| b.is_ascii_digit())
            && rest.len() >= 2
            && rest.as_bytes()[..2].iter().all(u8::is_ascii_digit);
        ok.then(|| Layout {
            account,
            region,
            day,
            hour: &rest[..2],
        })
    }
}

/// FNV-1a, 64 bits: the same key gives the same shard on every machine and version.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(day: u32, hour: u32, n: u32) -> String {
        format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/{day:02}/111122223333_CloudTrail_us-east-1_202611{day:02}T{hour:02}{:02}Z_x{n}.json.gz",
            n % 60
        )
    }

    #[test]
    fn shard_flags_are_checked() {
        assert_eq!(Shard::parse("0/4"), Ok(Shard { index: 0, count: 4 }));
        assert_eq!(Shard::parse(" 3 / 4 "), Ok(Shard { index: 3, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "2", "-1/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_file_goes_to_exactly_one_shard() {
        let names: Vec<String> = (1..=20)
            .flat_map(|d| (0..24).map(move |h| name(d, h, h)))
            .chain(["other/file.json".to_string(), "x.ndjson".to_string()])
            .collect();
        let picks: Vec<Vec<bool>> = (0..5)
            .map(|k| Shard { index: k, count: 5 }.select(&names))
            .collect();
        for i in 0..names.len() {
            assert_eq!(picks.iter().filter(|p| p[i]).count(), 1, "{}", names[i]);
        }
        assert!(
            picks.iter().all(|p| p.iter().any(|x| *x)),
            "all shards get work"
        );
    }

    #[test]
    fn a_quiet_day_stays_together_and_a_hot_day_is_split_by_hour() {
        let quiet: Vec<String> = (0..24).map(|h| name(5, h, h)).collect();
        for k in 0..4 {
            let p = Shard { index: k, count: 4 }.select(&quiet);
            assert!(p.iter().all(|x| *x) || p.iter().all(|x| !*x));
        }
        let hot: Vec<String> = (0..(HOT_DAY_FILES as u32 + 24))
            .map(|i| name(6, i % 24, i))
            .collect();
        let owners: std::collections::HashSet<u32> = (0..4)
            .filter(|k| {
                Shard {
                    index: *k,
                    count: 4,
                }
                .select(&hot)
                .iter()
                .any(|x| *x)
            })
            .collect();
        assert!(owners.len() > 1, "a hot day is spread over shards");
    }
}
