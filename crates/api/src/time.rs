//! Timestamps as the API writes them: RFC 3339 in UTC, exactly as chrono's own serialization
//! (`SecondsFormat::AutoSi` with `Z`: no fraction, or 3, 6 or 9 digits), written into a stack
//! buffer instead of through the formatting machinery — a page of posts writes one per post.
//!
//! Use as `#[serde(serialize_with = "crate::time::serialize")]`; reading is chrono's.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// Longest text: `YYYY-MM-DDTHH:MM:SS.fffffffffZ`.
const MAX: usize = 30;

/// Serializes `at` as chrono does, faster.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX];
    match encode(at, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        // Years outside 0000–9999 and leap seconds: chrono's own way.
        None => at.serialize(serializer),
    }
}

/// `at` as RFC 3339 text in `buf`, or `None` for what only chrono writes.
fn encode<'b>(at: &DateTime<Utc>, buf: &'b mut [u8; MAX]) -> Option<&'b str> {
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    buf[..20].copy_from_slice(b"0000-00-00T00:00:00.");
    digits(&mut buf[0..4], year);
    digits(&mut buf[5..7], at.month());
    digits(&mut buf[8..10], at.day());
    digits(&mut buf[11..13], at.hour());
    digits(&mut buf[14..16], at.minute());
    digits(&mut buf[17..19], at.second());
    let mut len = if nanos == 0 {
        19
    } else if nanos.is_multiple_of(1_000_000) {
        digits(&mut buf[20..23], nanos / 1_000_000);
        23
    } else if nanos.is_multiple_of(1_000) {
        digits(&mut buf[20..26], nanos / 1_000);
        26
    } else {
        digits(&mut buf[20..29], nanos);
        29
    };
    buf[len] = b'Z';
    len += 1;
    std::str::from_utf8(&buf[..len]).ok()
}

/// Writes `value`'s last `out.len()` decimal digits, zero-padded.
fn digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        // A digit is below 10: the cast cannot truncate.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    #[derive(Serialize)]
    struct Ours(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    fn same_as_chrono(at: DateTime<Utc>) {
        let ours = serde_json::to_string(&Ours(at)).unwrap();
        let chrono = serde_json::to_string(&at).unwrap();
        assert_eq!(ours, chrono, "{at:?}");
    }

    #[test]
    fn writes_what_chrono_writes() {
        let base = Utc.with_ymd_and_hms(2026, 12, 3, 9, 5, 7).unwrap();
        for nanos in [
            0,
            1,
            999,
            1_000,
            120_000,
            123_456,
            1_000_000,
            5_000_000,
            999_999_999,
        ] {
            same_as_chrono(base + chrono::Duration::nanoseconds(nanos));
        }
        // Years at and beyond the four-digit edges, and a leap second: chrono's way.
        for (y, m, d) in [
            (0, 1, 1),
            (9999, 12, 31),
            (-1, 6, 1),
            (10_000, 1, 1),
            (1970, 1, 1),
        ] {
            let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            same_as_chrono(day.and_hms_nano_opt(23, 59, 59, 1_500).unwrap().and_utc());
            same_as_chrono(day.and_hms_opt(0, 0, 0).unwrap().and_utc());
        }
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31).unwrap();
        same_as_chrono(
            leap.and_hms_nano_opt(23, 59, 59, 1_250_000_000)
                .unwrap()
                .and_utc(),
        );
        // A spread of instants over four centuries, at every precision.
        let mut seed: u64 = 0x5eed;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let secs = i64::try_from(seed >> 30).unwrap() % 12_600_000_000 - 2_200_000_000;
            let nanos = u32::try_from(seed % 1_000_000_000).unwrap();
            let nanos = match seed % 4 {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                2 => nanos / 1_000 * 1_000,
                _ => nanos,
            };
            same_as_chrono(DateTime::from_timestamp(secs, nanos).unwrap());
        }
    }
}
