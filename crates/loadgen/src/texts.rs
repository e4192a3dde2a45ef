//! Post texts that look like developers' posts: a topic hashtag, sometimes a mention, and a
//! length that varies (DeathStarBench's compose requests also carry mentions).

use rand::seq::SliceRandom;
use rand::Rng;

const TOPICS: &[&str] = &[
    "rust",
    "vue",
    "kubernetes",
    "postgres",
    "kafka",
    "devops",
    "observability",
    "webassembly",
    "typescript",
    "linux",
    "gitops",
    "testing",
];
const OPENERS: &[&str] = &[
    "Just shipped",
    "Today I learned about",
    "Hot take on",
    "Reading a great post about",
    "Pairing session on",
    "Finally understood",
    "Debugging",
    "Benchmarking",
    "Refactoring",
];
const FILLERS: &[&str] = &[
    "the p99 finally dropped below the budget",
    "turns out the cache was cold the whole time",
    "one more flaky test fixed",
    "the flame graph told the whole story",
    "reading the source beats reading the docs",
    "back pressure matters more than raw speed",
    "small pull requests, happy reviewers",
];
const CLOSERS: &[&str] = &[
    "and it was worth it.",
    "— thoughts?",
    "10/10 would do again.",
    "ship it!",
    "thread below 👇",
    "🚀",
];

/// A post text, mentioning `mention` when given; always within 280 characters.
pub fn post_text<R: Rng + ?Sized>(rng: &mut R, mention: Option<&str>) -> String {
    let pick = |rng: &mut R, list: &[&'static str]| list.choose(rng).copied().unwrap_or("");
    let mut text = format!("{} #{}", pick(rng, OPENERS), pick(rng, TOPICS));
    for _ in 0..rng.gen_range(0..=2) {
        text.push_str(": ");
        text.push_str(pick(rng, FILLERS));
    }
    if let Some(user) = mention {
        text.push_str(" cc @");
        text.push_str(user);
    }
    text.push(' ');
    text.push_str(pick(rng, CLOSERS));
    text.chars().take(280).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn texts_have_a_hashtag_and_fit() {
        let mut rng = StdRng::seed_from_u64(9);
        for i in 0..200 {
            let mention = (i % 3 == 0).then_some("ada_01");
            let text = post_text(&mut rng, mention);
            assert!(text.contains('#'), "{text}");
            assert!(text.chars().count() <= 280);
            assert_eq!(text.contains("@ada_01"), mention.is_some());
        }
    }
}
