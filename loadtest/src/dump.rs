//! `--dump FILE.ndjson`: the model's events as import lines, without sending anything.
//!
//! Each line is a wire event with its trusted `ts` plus the `user_agent` and `ip` fields that
//! `ecomdash import` feeds to enrichment exactly as the HTTP headers would, so the same data can
//! be imported into EcomDash or loaded into other systems for comparison.
//!
//! By default the dump keeps the live model's pace (a session every 50 ms on average, so a
//! million events cover a couple of hours). A history for import usually should cover days:
//! with `--days N` the dump spreads its events over about `N` days
//! from `--base-ms`, with a day/night cycle of the session rate ([`DUMP_DIURNAL_AMPLITUDE`]).
//! The comparison in `benches/compare/` uses this for its 30-day dataset.

use std::io::Write;

use ecomdash_protocol::Text;

use crate::model::{EventStream, ModelConfig, TrafficModel};

/// Day/night cycle of a dump spread over days: the busiest hour has 1.6 times the mean session
/// rate, the quietest 0.4 times.
pub const DUMP_DIURNAL_AMPLITUDE: f64 = 0.6;

/// Sessions generated to measure the model's mean events per session.
const PILOT_SESSIONS: usize = 20_000;

/// Writes the first `events` events of the model as NDJSON; returns the number written. With
/// `days`, the events are spread over about that many days (see the module doc).
pub fn write_ndjson<W: Write>(
    config: ModelConfig,
    events: u64,
    days: Option<f64>,
    out: &mut W,
) -> std::io::Result<u64> {
    let config = match days {
        Some(days) if days.is_finite() && days > 0.0 => spread_over_days(config, events, days),
        Some(days) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("--days must be a positive number of days, got {days}"),
            ))
        }
        None => config,
    };
    write_events(config, events, out)
}

/// The model with its mean session gap chosen so that `events` events cover about `days` days,
/// and a day/night cycle. The model's mean events per session is measured on a pilot run of the
/// same seed, so the result is deterministic.
pub fn spread_over_days(config: ModelConfig, events: u64, days: f64) -> ModelConfig {
    spread_with_pilot(config, events, days, PILOT_SESSIONS)
}

fn spread_with_pilot(
    mut config: ModelConfig,
    events: u64,
    days: f64,
    pilot_sessions: usize,
) -> ModelConfig {
    let pilot_sessions = pilot_sessions.max(1);
    let mut pilot = TrafficModel::new(config.clone());
    let pilot_events: usize = (0..pilot_sessions)
        .map(|_| pilot.next_session().len())
        .sum();
    let events_per_session = (pilot_events as f64 / pilot_sessions as f64).max(1.0);
    let sessions = (events as f64 / events_per_session).max(1.0);
    config.session_gap_ms = days * 86_400_000.0 / sessions;
    config.diurnal_amplitude = DUMP_DIURNAL_AMPLITUDE;
    config
}

/// Writes the first `events` events of exactly this model as NDJSON.
pub fn write_events<W: Write>(
    config: ModelConfig,
    events: u64,
    out: &mut W,
) -> std::io::Result<u64> {
    let mut written = 0;
    for generated in EventStream::new(config).take(events as usize) {
        let mut event = generated.event;
        event.user_agent = Some(Text::from(generated.user_agent));
        event.ip = Some(Text::from(generated.ip.to_string()));
        serde_json::to_writer(&mut *out, &event)?;
        out.write_all(b"\n")?;
        written += 1;
    }
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn dump_is_deterministic_and_importable() {
        let config = ModelConfig::new(99, 2, 1_795_000_000_000);
        let mut first = Vec::new();
        let mut second = Vec::new();
        assert_eq!(write_events(config.clone(), 300, &mut first).unwrap(), 300);
        write_events(config, 300, &mut second).unwrap();
        assert_eq!(first, second);
        let text = String::from_utf8(first).unwrap();
        assert_eq!(text.lines().count(), 300);
        for line in text.lines() {
            let event = ecomdash_protocol::decode_event(line.as_bytes()).unwrap();
            assert!(event.user_agent.is_some() && event.ip.is_some() && event.ts.is_some());
        }
    }

    #[test]
    fn spread_dump_covers_the_days_with_a_day_night_cycle() {
        const BASE_MS: i64 = 1_795_046_400_000; // a midnight UTC
        let events = 20_000;
        let config = spread_with_pilot(ModelConfig::new(5, 3, BASE_MS), events, 3.0, 1_000);
        let mut out = Vec::new();
        write_events(config, events, &mut out).unwrap();
        let mut per_hour = [0u64; 24];
        let mut last_ms = BASE_MS;
        for line in String::from_utf8(out).unwrap().lines() {
            let ts = ecomdash_protocol::decode_event(line.as_bytes())
                .unwrap()
                .ts
                .unwrap();
            per_hour[((ts - BASE_MS) / 3_600_000 % 24) as usize] += 1;
            last_ms = last_ms.max(ts);
        }
        let days = (last_ms - BASE_MS) as f64 / 86_400_000.0;
        assert!((2.5..3.5).contains(&days), "{days} days");
        // the evening peak (20:00 UTC) is busier than the early morning (08:00 UTC)
        assert!(per_hour[20] > 2 * per_hour[8], "{per_hour:?}");
    }
}
