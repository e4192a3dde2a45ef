//! What is limited ([`Class`]) and how much ([`Quota`]), and the `SOCIALDEVS_RATE_LIMITS`
//! setting that overrides the defaults.

use std::fmt;
use std::time::Duration;

/// A kind of request with a budget of its own, counted per key (a client address, an
/// account, a user).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// `POST /api/v1/auth/login`, per client address (password guessing from one place).
    Login,
    /// Sign-in attempts per account name, from anywhere (guessing one account's password).
    LoginAccount,
    /// `POST /api/v1/auth/register`, per client address.
    Register,
    /// Confirmation mails of sign-ups per e-mail address, from anywhere (mail bombing).
    SignupEmail,
    /// `POST /api/v1/auth/refresh`, per client address.
    Refresh,
    /// Refreshes per sign-in (token family), from anywhere.
    RefreshFamily,
    /// `POST /api/v1/posts`, per user.
    Posts,
    /// Every `/api/` request of a signed-in user, per user.
    Api,
    /// Every `/api/` request without a valid token, per client address.
    Anonymous,
}

impl Class {
    /// Every class, in the order of [`Class::index`].
    pub const ALL: [Class; 9] = [
        Class::Login,
        Class::LoginAccount,
        Class::Register,
        Class::SignupEmail,
        Class::Refresh,
        Class::RefreshFamily,
        Class::Posts,
        Class::Api,
        Class::Anonymous,
    ];

    /// The name used in the setting, in metrics and in Redis keys.
    pub fn name(self) -> &'static str {
        match self {
            Class::Login => "login",
            Class::LoginAccount => "login-account",
            Class::Register => "register",
            Class::SignupEmail => "signup-email",
            Class::Refresh => "refresh",
            Class::RefreshFamily => "refresh-family",
            Class::Posts => "posts",
            Class::Api => "api",
            Class::Anonymous => "anonymous",
        }
    }

    /// The position of the class in [`Class::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The budget when the setting says nothing of the class (Mastodon's, where it has one).
    pub fn default_quota(self) -> Quota {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        match self {
            Class::Login => Quota::new(25, minutes(5)),
            Class::LoginAccount => Quota::new(10, minutes(5)),
            Class::Register => Quota::new(5, minutes(30)),
            Class::SignupEmail => Quota::new(3, minutes(60)),
            Class::Refresh => Quota::new(60, minutes(5)),
            // A client refreshes once per access token (15 minutes); a burst of retries is fine.
            Class::RefreshFamily => Quota::new(10, minutes(5)),
            Class::Posts => Quota::new(300, minutes(180)),
            Class::Api | Class::Anonymous => Quota::new(300, minutes(5)),
        }
        .unwrap_or(Quota::UNIT)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `limit` requests per `period`, as a generic cell rate (GCRA): a burst of up to `limit`,
/// then one more every `period / limit` — no window edge where twice the limit gets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    limit: u32,
    period: Duration,
}

impl Quota {
    const UNIT: Quota = Quota {
        limit: 1,
        period: Duration::from_secs(1),
    };

    /// `None` when `limit` is 0 or the period is shorter than a microsecond per request.
    pub fn new(limit: u32, period: Duration) -> Option<Self> {
        let quota = Self { limit, period };
        (limit > 0 && quota.interval() >= Duration::from_micros(1)).then_some(quota)
    }

    /// The burst, and the number of requests per period.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The time after which one more request is allowed.
    pub fn interval(&self) -> Duration {
        self.period / self.limit.max(1)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.limit, self.period.as_secs_f64())
    }
}

/// The quota of each class; `None` is unlimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas([Option<Quota>; Class::ALL.len()]);

impl Default for Quotas {
    fn default() -> Self {
        Self(Class::ALL.map(|class| Some(class.default_quota())))
    }
}

impl Quotas {
    /// No limits at all.
    pub fn off() -> Self {
        Self([None; Class::ALL.len()])
    }

    /// The quota of `class`, if it is limited.
    pub fn get(&self, class: Class) -> Option<Quota> {
        self.0[class.index()]
    }

    /// Sets (or with `None` lifts) the quota of `class`.
    pub fn set(&mut self, class: Class, quota: Option<Quota>) {
        self.0[class.index()] = quota;
    }

    /// Whether any class is limited.
    pub fn any(&self) -> bool {
        self.0.iter().any(Option::is_some)
    }

    /// The defaults changed by `entries` of the `SOCIALDEVS_RATE_LIMITS` setting:
    /// `off` (no limits), `CLASS=N/PERIOD` (`login=25/5m`, `api=300/5m`; periods in `s`, `m`,
    /// `h`), `CLASS=off`, and `*=...` for every class. Later entries win.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut quotas = Self::default();
        for entry in entries
            .iter()
            .map(|e| e.as_ref().trim())
            .filter(|e| !e.is_empty())
        {
            if entry == "off" {
                quotas = Self::off();
                continue;
            }
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?}: expected CLASS=N/PERIOD, CLASS=off or off"))?;
            let quota = parse_quota(value.trim()).map_err(|err| format!("{entry:?}: {err}"))?;
            match name.trim() {
                "*" => Class::ALL.iter().for_each(|&c| quotas.set(c, quota)),
                name => {
                    let class = Class::ALL
                        .into_iter()
                        .find(|c| c.name() == name)
                        .ok_or_else(|| {
                            let names: Vec<_> = Class::ALL.iter().map(|c| c.name()).collect();
                            format!("{name:?} is not a class ({})", names.join(", "))
                        })?;
                    quotas.set(class, quota);
                }
            }
        }
        Ok(quotas)
    }
}

fn parse_quota(value: &str) -> Result<Option<Quota>, String> {
    if value == "off" {
        return Ok(None);
    }
    let (limit, period) = value
        .split_once('/')
        .ok_or("expected N/PERIOD, such as 300/5m")?;
    let limit: u32 = limit
        .trim()
        .parse()
        .map_err(|_| format!("{limit:?} is not a count"))?;
    let period = period.trim();
    let (count, unit) = period.split_at(
        period
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(period.len()),
    );
    let count: u64 = if count.is_empty() {
        1
    } else {
        count
            .parse()
            .map_err(|_| format!("{period:?} is not a period"))?
    };
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        _ => return Err(format!("{period:?}: a period is a number of s, m or h")),
    };
    let period = Duration::from_secs(count.saturating_mul(seconds));
    Quota::new(limit, period)
        .map(Some)
        .ok_or_else(|| format!("{value:?}: at least 1 request, at most 1,000,000 per second"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_changes_the_defaults_class_by_class() {
        let quotas = Quotas::parse(&["login=10/1m", " api = 1000/1h ", "register=off"]).unwrap();
        assert_eq!(
            quotas.get(Class::Login),
            Quota::new(10, Duration::from_secs(60))
        );
        assert_eq!(
            quotas.get(Class::Api),
            Quota::new(1000, Duration::from_secs(3600))
        );
        assert_eq!(quotas.get(Class::Register), None);
        assert_eq!(
            quotas.get(Class::Anonymous),
            Some(Class::Anonymous.default_quota())
        );
        assert_eq!(Quotas::parse::<&str>(&[]).unwrap(), Quotas::default());
    }

    #[test]
    fn off_and_star_cover_every_class() {
        let off = Quotas::parse(&["off"]).unwrap();
        assert!(!off.any());
        let some = Quotas::parse(&["off", "posts=1/s"]).unwrap();
        let limited: Vec<Class> = Class::ALL
            .into_iter()
            .filter(|&c| some.get(c).is_some())
            .collect();
        assert_eq!(limited, [Class::Posts]);
        let all = Quotas::parse(&["*=100000/1h"]).unwrap();
        assert!(Class::ALL
            .iter()
            .all(|&c| all.get(c) == Quota::new(100_000, Duration::from_secs(3600))));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (entry, says) in [
            ("login", "CLASS=N/PERIOD"),
            ("logon=1/m", "not a class"),
            ("login=x/m", "not a count"),
            ("login=1/5d", "s, m or h"),
            ("login=0/m", "at least 1"),
            ("login=5000000/1s", "at most 1,000,000"),
        ] {
            let err = Quotas::parse(&[entry]).unwrap_err();
            assert!(err.contains(says), "{entry}: {err}");
        }
    }

    #[test]
    fn a_quota_refills_one_request_per_interval() {
        let quota = Quota::new(300, Duration::from_secs(300)).unwrap();
        assert_eq!(quota.interval(), Duration::from_secs(1));
        assert_eq!(quota.to_string(), "300/300s");
    }
}
