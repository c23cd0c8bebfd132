//! The name an unknown section or key was probably meant to be: the same name in another
//! case, else the closest known one within two edits.
use super::parse::all_keys;

/// The known key (section, name) `name` was probably meant to be, among keys whose section
/// passes `in_section`.
pub(super) fn suggest_key(
    name: &str,
    in_section: impl Fn(&str) -> bool,
) -> Option<(&'static str, &'static str)> {
    let candidates = all_keys().filter(|(s, _, _)| in_section(s));
    let name_of = suggest(name, candidates.clone().map(|(_, k, _)| k))?;
    candidates
        .map(|(s, k, _)| (s, k))
        .find(|(_, k)| *k == name_of)
}

/// The candidate equal to `name` ignoring case, else the closest one within two edits.
pub(super) fn suggest(
    name: &str,
    candidates: impl Iterator<Item = &'static str> + Clone,
) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Some(exact) = candidates.clone().find(|c| c.eq_ignore_ascii_case(name)) {
        return Some(exact);
    }
    candidates
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Levenshtein distance over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::SECTIONS;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("loglevel", "loglevel"), 0);
        assert_eq!(edit_distance("loglevle", "loglevel"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_prefer_case_then_closeness() {
        let sections = || SECTIONS.iter().copied();
        assert_eq!(suggest("system", sections()), Some("System"));
        assert_eq!(suggest("Sytem", sections()), Some("System"));
        assert_eq!(suggest("Routing", sections()), None);
        assert_eq!(suggest_key("listen", |_| true), Some(("Network", "Listen")));
        assert_eq!(suggest_key("Listen", |s| s == "System"), None);
    }
}
