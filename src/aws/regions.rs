//! The AWS regions keytrail knows, so a mistyped region is refused at once with the closest
//! names instead of failing on the network (no endpoint exists for `us-east-9`).

/// The commercial regions `lookup:all` reads (the AWS region list as of 2026-11).
pub const ALL_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "mx-central-1",
    "sa-east-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
];

/// Regions an account must enable before use: failures there are expected, not errors.
pub const OPT_IN_REGIONS: &[&str] = &[
    "ca-west-1",
    "mx-central-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
];

/// Regions of the other partitions (GovCloud, China): valid for `--region`, `--regions` and
/// `lookup:`, never part of `lookup:all`.
pub const OTHER_PARTITION_REGIONS: &[&str] = &[
    "us-gov-west-1",
    "us-gov-east-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// True for a region keytrail knows (commercial, opt-in, GovCloud or China).
pub fn is_known(region: &str) -> bool {
    ALL_REGIONS.contains(&region) || OTHER_PARTITION_REGIONS.contains(&region)
}

/// Checks one region name: `Ok` with it when known, else the reason with the closest names.
pub fn check(region: &str) -> Result<String, String> {
    let r = region.trim();
    if is_known(r) {
        return Ok(r.to_string());
    }
    let lower = r.to_ascii_lowercase();
    if is_known(&lower) {
        return Err(format!(
            "unknown region {r:?}: region names are lowercase; use {lower}"
        ));
    }
    Err(format!(
        "unknown region {r:?}: did you mean {}? (keytrail knows the {} commercial regions as of 2026-11 and GovCloud/China; `keytrail doctor` lists what works for the account)",
        closest(&lower).join(" or "),
        ALL_REGIONS.len()
    ))
}

/// A clap value parser for `--region` and `--regions`.
pub fn parse_region(s: &str) -> Result<String, String> {
    check(s)
}

/// Up to three known regions nearest to `region` by edit distance (ties in list order).
pub fn closest(region: &str) -> Vec<&'static str> {
    let mut scored: Vec<(usize, usize, &'static str)> = ALL_REGIONS
        .iter()
        .chain(OTHER_PARTITION_REGIONS)
        .enumerate()
        .map(|(i, r)| (edit_distance(region, r), i, *r))
        .collect();
    scored.sort();
    let best = scored.first().map_or(0, |s| s.0);
    scored
        .into_iter()
        .take_while(|s| s.0 <= best + 1)
        .take(3)
        .map(|s| s.2)
        .collect()
}

/// Levenshtein distance over bytes (region names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_regions_pass_including_opt_in_and_govcloud() {
        for r in [
            "us-east-1",
            "ap-southeast-7",
            "il-central-1",
            "us-gov-west-1",
        ] {
            assert_eq!(check(r).as_deref(), Ok(r));
        }
        assert!(OPT_IN_REGIONS.iter().all(|r| ALL_REGIONS.contains(r)));
    }

    #[test]
    fn unknown_regions_are_refused_with_the_closest_names() {
        let e = check("us-east-9").unwrap_err();
        assert!(e.contains("did you mean us-east-1 or us-east-2"), "{e}");
        let e = check("eu-westt-1").unwrap_err();
        assert!(
            e.starts_with("unknown region \"eu-westt-1\": did you mean eu-west-1"),
            "{e}"
        );
        assert!(check("US-EAST-1").unwrap_err().contains("use us-east-1"));
        assert_eq!(closest("frankfurt").len(), 3);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("us-east-9", "us-east-1"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("eu-west-1", "eu-west-1"), 0);
    }
}
