//! Zipf popularity: the author at rank `r` (0 = most popular) is drawn with weight
//! `1 / (r + 1)^s`, so a few authors are followed — and read — by most users.

use rand::Rng;

/// A Zipf distribution over `0..n`, sampled through its cumulative weights.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// Ranks `0..n` with exponent `s` (0 is uniform; around 1 is typical of social graphs).
    pub fn new(n: usize, s: f64) -> anyhow::Result<Self> {
        anyhow::ensure!(n > 0, "a Zipf distribution needs at least one rank");
        anyhow::ensure!(
            s.is_finite() && s >= 0.0,
            "the Zipf exponent must be a finite number ≥ 0, not {s}"
        );
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|rank| {
                total += 1.0 / ((rank + 1) as f64).powf(s);
                total
            })
            .collect();
        Ok(Self { cumulative })
    }

    /// Number of ranks.
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// Whether there are no ranks (never: `new` refuses that).
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// The probability of drawing `rank`.
    pub fn probability(&self, rank: usize) -> f64 {
        let total = self.total();
        let below = if rank == 0 {
            0.0
        } else {
            self.cumulative.get(rank - 1).copied().unwrap_or(total)
        };
        let upto = self.cumulative.get(rank).copied().unwrap_or(total);
        (upto - below) / total
    }

    /// One rank, drawn by popularity.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let point = rng.gen::<f64>() * self.total();
        self.cumulative
            .partition_point(|&c| c <= point)
            .min(self.len().saturating_sub(1))
    }

    fn total(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(1.0)
    }
}

/// Whom each of `users` users follows: `per_user` distinct others (fewer only when there are
/// not that many), drawn by popularity, so user 0 is the most followed. Never oneself.
pub fn assign_follows<R: Rng + ?Sized>(
    zipf: &Zipf,
    per_user: usize,
    rng: &mut R,
) -> Vec<Vec<usize>> {
    let users = zipf.len();
    let wanted = per_user.min(users.saturating_sub(1));
    (0..users)
        .map(|me| {
            let mut chosen = vec![false; users];
            let mut picks = Vec::with_capacity(wanted);
            // Rejection sampling; the popular ranks fill quickly, and if the tail is too rare
            // to be drawn in reasonable time the remaining picks go to the most popular left.
            let mut attempts = 0usize;
            while picks.len() < wanted && attempts < wanted.saturating_mul(64) {
                attempts += 1;
                let author = zipf.sample(rng);
                if author != me && !chosen[author] {
                    chosen[author] = true;
                    picks.push(author);
                }
            }
            for (author, taken) in chosen.iter_mut().enumerate() {
                if picks.len() >= wanted {
                    break;
                }
                if author != me && !*taken {
                    *taken = true;
                    picks.push(author);
                }
            }
            picks
        })
        .collect()
}

/// How many followers each user has, given who follows whom.
pub fn follower_counts(following: &[Vec<usize>]) -> Vec<usize> {
    let mut counts = vec![0; following.len()];
    for followees in following {
        for &author in followees {
            if let Some(count) = counts.get_mut(author) {
                *count += 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn probabilities_follow_the_power_law_and_sum_to_one() {
        let zipf = Zipf::new(100, 1.0).unwrap();
        let sum: f64 = (0..100).map(|r| zipf.probability(r)).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        // p(r) ∝ 1/(r+1): rank 0 is twice rank 1 and ten times rank 9.
        assert!((zipf.probability(0) / zipf.probability(1) - 2.0).abs() < 1e-9);
        assert!((zipf.probability(0) / zipf.probability(9) - 10.0).abs() < 1e-9);
        let uniform = Zipf::new(4, 0.0).unwrap();
        assert!((uniform.probability(3) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn sampling_matches_the_probabilities() {
        let zipf = Zipf::new(50, 1.2).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = [0usize; 50];
        let draws = 200_000;
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        for rank in [0, 1, 5, 49] {
            let seen = counts[rank] as f64 / draws as f64;
            let expected = zipf.probability(rank);
            assert!(
                (seen - expected).abs() < 0.01 + expected * 0.05,
                "rank {rank}: {seen} vs {expected}"
            );
        }
    }

    #[test]
    fn refuses_empty_or_bad_exponents() {
        assert!(Zipf::new(0, 1.0).is_err());
        assert!(Zipf::new(3, -1.0).is_err());
        assert!(Zipf::new(3, f64::NAN).is_err());
    }

    #[test]
    fn follows_are_distinct_never_oneself_and_power_law() {
        let zipf = Zipf::new(200, 1.0).unwrap();
        let mut rng = StdRng::seed_from_u64(42);
        let following = assign_follows(&zipf, 20, &mut rng);
        assert_eq!(following.len(), 200);
        for (me, followees) in following.iter().enumerate() {
            assert_eq!(followees.len(), 20);
            assert!(!followees.contains(&me));
            let mut sorted = followees.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 20, "distinct");
        }
        let counts = follower_counts(&following);
        // A few authors are followed by most users; the tail by few.
        assert!(counts[0] > 150, "top author: {}", counts[0]);
        assert!(counts[1] > 100, "second author: {}", counts[1]);
        let tail: usize = counts[100..].iter().sum::<usize>() / 100;
        assert!(tail < 20, "tail average {tail}");
        assert_eq!(counts.iter().sum::<usize>(), 200 * 20);
    }

    #[test]
    fn small_graphs_follow_everyone_else() {
        let zipf = Zipf::new(5, 3.0).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let following = assign_follows(&zipf, 10, &mut rng);
        for (me, followees) in following.iter().enumerate() {
            assert_eq!(followees.len(), 4);
            assert!(!followees.contains(&me));
        }
        let one = assign_follows(&Zipf::new(1, 1.0).unwrap(), 3, &mut rng);
        assert_eq!(one, vec![Vec::<usize>::new()]);
    }
}
