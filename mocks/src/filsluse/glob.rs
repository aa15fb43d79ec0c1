//! The name and path masks of the REST API's `?name=` and `?path=` (`*` any run of
//! characters, `?` one character, case-insensitive), matched without backtracking.
//!
//! A mask is split at its `*`s into segments; the first segment must match at the start,
//! the last at the end, and each one between at its **leftmost** place after the previous
//! one. Taking the leftmost place is always right for `*`-separated segments (a later
//! place only leaves less room for the rest), so no choice is ever undone. Each segment is
//! tried at each start position at most once, so a match costs at most
//! `len(text) × len(mask)` character comparisons — with the mask cut to [`MAX_MASK`]
//! characters and names and paths of a few hundred, a few hundred thousand comparisons in
//! the worst case, where the naive recursive matcher needed exponential time for masks
//! such as `*?*?*?…`.

/// The longest mask considered; longer masks are cut (MOVEit's masks are short).
pub(crate) const MAX_MASK: usize = 256;

/// Whether `text` matches `mask` (see the module docs).
pub(crate) fn mask_matches(mask: &str, text: &str) -> bool {
    let mask: Vec<char> = mask.to_lowercase().chars().take(MAX_MASK).collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let segments: Vec<&[char]> = mask.split(|c| *c == '*').collect();
    // No `*`: the whole text against the one segment.
    let [first, middle @ .., last] = segments.as_slice() else {
        return segment_at(segments.first().copied().unwrap_or(&[]), &text, 0)
            && text.len() == segments.first().map_or(0, |s| s.len());
    };
    if text.len() < first.len() + last.len() || !segment_at(first, &text, 0) {
        return false;
    }
    let end = text.len() - last.len();
    if !segment_at(last, &text, end) {
        return false;
    }
    let mut at = first.len();
    for seg in middle {
        match find(seg, &text[..end], at) {
            Some(p) => at = p + seg.len(),
            None => return false,
        }
    }
    at <= end
}

/// Whether `seg` (with `?`) matches `text` at position `at`.
fn segment_at(seg: &[char], text: &[char], at: usize) -> bool {
    text.len() >= at + seg.len()
        && seg
            .iter()
            .zip(&text[at..])
            .all(|(m, c)| *m == '?' || m == c)
}

/// The leftmost position ≥ `from` where `seg` matches in `text`.
fn find(seg: &[char], text: &[char], from: usize) -> Option<usize> {
    (from..=text.len().checked_sub(seg.len())?).find(|p| segment_at(seg, text, *p))
}

#[cfg(test)]
mod tests {
    use super::mask_matches;

    #[test]
    fn masks() {
        assert!(mask_matches("*.zip", "040300_iplos_test.ZIP"));
        assert!(mask_matches("0403??_*", "040300_iplos.zip"));
        assert!(!mask_matches("*.zip", "a.txt"));
        assert!(mask_matches("*", ""));
        assert!(mask_matches("", ""));
        assert!(!mask_matches("", "a"));
        assert!(mask_matches("a", "A"));
        assert!(!mask_matches("a", "ab"));
        assert!(mask_matches("a*b*c", "aXbYbc"));
        assert!(mask_matches("a*b*c", "abc"));
        assert!(!mask_matches("a*b*c", "acb"));
        assert!(mask_matches("*ab*ab*", "abab"));
        assert!(!mask_matches("*ab*ab*", "aba"));
        assert!(mask_matches("?*", "x"));
        assert!(!mask_matches("?*", ""));
        assert!(mask_matches(
            "/home/*/frassb",
            "/Home/Ekstern/iplos/p@x.test/frassb"
        ));
        assert!(
            !mask_matches("ab*ba", "aba"),
            "first and last may not overlap"
        );
    }

    /// The matcher agrees with the obvious recursive definition on every mask and text
    /// over a small alphabet up to length 5 and 6.
    #[test]
    fn agrees_with_the_definition() {
        fn naive(m: &[char], s: &[char]) -> bool {
            match (m.first(), s.first()) {
                (None, None) => true,
                (Some('*'), _) => naive(&m[1..], s) || (!s.is_empty() && naive(m, &s[1..])),
                (Some('?'), Some(_)) => naive(&m[1..], &s[1..]),
                (Some(a), Some(b)) => a == b && naive(&m[1..], &s[1..]),
                _ => false,
            }
        }
        fn all(alphabet: &[char], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                let next: Vec<String> = last
                    .iter()
                    .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                    .collect();
                out.extend(next.iter().cloned());
                last = next;
            }
            out
        }
        let masks = all(&['a', 'b', '*', '?'], 5);
        let texts = all(&['a', 'b'], 6);
        for m in &masks {
            let mc: Vec<char> = m.chars().collect();
            for t in &texts {
                let tc: Vec<char> = t.chars().collect();
                assert_eq!(mask_matches(m, t), naive(&mc, &tc), "mask {m:?} text {t:?}");
            }
        }
    }

    /// The hostile mask of issue 16: answered at once, by construction (no backtracking).
    #[test]
    fn hostile_mask() {
        let mask = "*?".repeat(50) + "x";
        let name = "a".repeat(300);
        assert!(!mask_matches(&mask, &name));
        assert!(mask_matches(&("*?".repeat(50)), &name));
    }
}
