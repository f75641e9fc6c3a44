//! `--dump FILE.ndjson`: the model's events as import lines, without sending anything.
//!
//! Each line is a wire event with its trusted `ts` plus the `user_agent` and `ip` fields that
//! `ecomdash import` feeds to enrichment exactly as the HTTP headers would, so the same data can
//! be imported into EcomDash or loaded into other systems for comparison.

use std::io::Write;

use ecomdash_protocol::Text;

use crate::model::{EventStream, ModelConfig};

/// Writes the first `events` events of the model as NDJSON; returns the number written.
pub fn write_ndjson<W: Write>(
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
        assert_eq!(write_ndjson(config.clone(), 300, &mut first).unwrap(), 300);
        write_ndjson(config, 300, &mut second).unwrap();
        assert_eq!(first, second);
        let text = String::from_utf8(first).unwrap();
        assert_eq!(text.lines().count(), 300);
        for line in text.lines() {
            let event = ecomdash_protocol::decode_event(line.as_bytes()).unwrap();
            assert!(event.user_agent.is_some() && event.ip.is_some() && event.ts.is_some());
        }
    }
}
