//! The operations of the workload and their mix (`home=60,user=30,compose=10`).

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::Serialize;

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `GET /api/v1/timeline/home`: a reader's home timeline.
    Home,
    /// `GET /api/v1/posts?author=`: one author's posts.
    User,
    /// `POST /api/v1/posts`: a new post.
    Compose,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 3] = [Op::Home, Op::User, Op::Compose];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Home => "home",
            Op::User => "user",
            Op::Compose => "compose",
        }
    }

    /// The request it sends.
    pub fn request(self) -> &'static str {
        match self {
            Op::Home => "GET /api/v1/timeline/home",
            Op::User => "GET /api/v1/posts?author=",
            Op::Compose => "POST /api/v1/posts",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "home" | "home_timeline" | "home-timeline" => Ok(Op::Home),
            "user" | "user_timeline" | "user-timeline" | "author" => Ok(Op::User),
            "compose" | "post" => Ok(Op::Compose),
            other => anyhow::bail!("unknown operation {other:?}: expected home, user or compose"),
        }
    }
}

/// Relative weights of the operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(Op, u32)>,
    total: u32,
}

impl Mix {
    /// DeathStarBench's social network mix: 60 % home timeline, 30 % user timeline, 10 %
    /// compose.
    pub fn social_network() -> Self {
        Self {
            weights: vec![(Op::Home, 60), (Op::User, 30), (Op::Compose, 10)],
            total: 100,
        }
    }

    /// One operation alone.
    pub fn only(op: Op) -> Self {
        Self {
            weights: vec![(op, 1)],
            total: 1,
        }
    }

    /// The operations with a non-zero weight, in report order.
    pub fn ops(&self) -> Vec<Op> {
        self.weights.iter().map(|(op, _)| *op).collect()
    }

    /// The share of `op`, 0 to 1.
    pub fn share(&self, op: Op) -> f64 {
        let weight = self
            .weights
            .iter()
            .find(|(o, _)| *o == op)
            .map_or(0, |(_, w)| *w);
        f64::from(weight) / f64::from(self.total.max(1))
    }

    /// The operation at `point`, a number in `0..total` (weights laid end to end).
    pub fn at(&self, point: u32) -> Op {
        let mut upto = 0;
        for (op, weight) in &self.weights {
            upto += weight;
            if point < upto {
                return *op;
            }
        }
        self.weights.last().map_or(Op::Home, |(op, _)| *op)
    }

    /// A random operation, by weight.
    pub fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> Op {
        self.at(rng.gen_range(0..self.total.max(1)))
    }
}

impl Default for Mix {
    fn default() -> Self {
        Self::social_network()
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .weights
            .iter()
            .map(|(op, weight)| format!("{op}={weight}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Mix {
    type Err = anyhow::Error;

    /// `home=60,user=30,compose=10`; a bare name (`compose`) is that operation alone.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        let mut weights: Vec<(Op, u32)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (op, weight) = match part.split_once('=') {
                Some((op, weight)) => {
                    let weight: u32 = weight.trim().parse().map_err(|_| {
                        anyhow::anyhow!("weight of {op:?} must be a whole number, not {weight:?}")
                    })?;
                    (op.parse::<Op>()?, weight)
                }
                None => (part.parse::<Op>()?, 1),
            };
            anyhow::ensure!(
                !weights.iter().any(|(o, _)| *o == op),
                "{op} is listed twice in the mix"
            );
            weights.push((op, weight));
        }
        weights.retain(|(_, w)| *w > 0);
        weights.sort_by_key(|(op, _)| *op);
        let total = weights
            .iter()
            .try_fold(0u32, |sum, (_, w)| sum.checked_add(*w))
            .ok_or_else(|| anyhow::anyhow!("mix weights are too large"))?;
        anyhow::ensure!(
            total > 0,
            "the mix {s:?} has no operation with a weight above 0"
        );
        Ok(Self { weights, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn parses_the_social_network_mix() {
        let mix: Mix = "home=60,user=30,compose=10".parse().unwrap();
        assert_eq!(mix, Mix::social_network());
        assert_eq!(mix.to_string(), "home=60,user=30,compose=10");
        assert!((mix.share(Op::User) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn order_spaces_and_zero_weights() {
        let mix: Mix = " compose = 1 , home=3, user=0 ".parse().unwrap();
        assert_eq!(mix.ops(), vec![Op::Home, Op::Compose]);
        assert_eq!(mix.share(Op::User), 0.0);
        assert!((mix.share(Op::Home) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn a_bare_name_is_that_operation_alone() {
        let mix: Mix = "compose".parse().unwrap();
        assert_eq!(mix, Mix::only(Op::Compose));
        assert_eq!(mix.at(0), Op::Compose);
        let mix: Mix = "user=100".parse().unwrap();
        assert_eq!(mix.ops(), vec![Op::User]);
    }

    #[test]
    fn rejects_bad_mixes() {
        for bad in [
            "",
            "home=0",
            "timeline=5",
            "home=x",
            "home=-1",
            "home=1,home=2",
            "home=4294967295,user=1",
        ] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn points_map_to_operations_by_weight() {
        let mix = Mix::social_network();
        assert_eq!(mix.at(0), Op::Home);
        assert_eq!(mix.at(59), Op::Home);
        assert_eq!(mix.at(60), Op::User);
        assert_eq!(mix.at(89), Op::User);
        assert_eq!(mix.at(90), Op::Compose);
        assert_eq!(mix.at(99), Op::Compose);
    }

    #[test]
    fn random_picks_follow_the_weights() {
        let mix = Mix::social_network();
        let mut rng = StdRng::seed_from_u64(3);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..100_000 {
            *counts.entry(mix.pick(&mut rng)).or_insert(0u32) += 1;
        }
        let share = |op| f64::from(counts[&op]) / 100_000.0;
        assert!((share(Op::Home) - 0.6).abs() < 0.01);
        assert!((share(Op::User) - 0.3).abs() < 0.01);
        assert!((share(Op::Compose) - 0.1).abs() < 0.01);
    }
}
