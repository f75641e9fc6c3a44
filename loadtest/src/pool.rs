//! Pre-serialised request templates, so that sending costs a copy and a few byte writes rather
//! than generating and serialising events on the hot path.
//!
//! A pool is built once from the traffic model. Each template is one request body (a single
//! event, or a batch of events of one site) plus the headers a browser would send it with. Every
//! event's `event_id` is fixed width ([`crate::model::event_id`]), and the template remembers
//! where its hex sequence digits are, so each send writes fresh, globally unique ids in place:
//! the server never sees a retry, even when the pool is cycled many times.

use std::net::Ipv4Addr;

use bytes::Bytes;

use crate::model::{event_id, EventStream, GeneratedEvent, ModelConfig};

/// Width of the sequence part of an `event_id` (hex digits).
const SEQ_DIGITS: usize = 16;

/// One request body with the headers it is sent with.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    pub site: usize,
    pub user_agent: &'static str,
    pub accept_language: Option<&'static str>,
    pub forwarded_for: Ipv4Addr,
    /// Number of events in the body.
    pub events: usize,
    body: Vec<u8>,
    /// Byte offsets of the sequence digits of each event's `event_id`.
    id_offsets: Vec<usize>,
}

impl RequestTemplate {
    /// The body with event ids numbered `first_seq`, `first_seq + 1`, ...
    pub fn body(&self, first_seq: u64) -> Bytes {
        let mut body = self.body.clone();
        for (i, offset) in self.id_offsets.iter().enumerate() {
            write_hex(
                &mut body[*offset..*offset + SEQ_DIGITS],
                first_seq + i as u64,
            );
        }
        Bytes::from(body)
    }
}

fn write_hex(slot: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in slot.iter_mut().enumerate() {
        let shift = 4 * (SEQ_DIGITS - 1 - i);
        *byte = DIGITS[((value >> shift) & 0xf) as usize];
    }
}

/// The request templates of one run.
#[derive(Debug, Clone)]
pub struct Pool {
    pub run_id: String,
    pub templates: Vec<RequestTemplate>,
    /// Total events over all templates.
    pub events: usize,
}

impl Pool {
    /// Builds templates from the first `events` events of the model: one per event when
    /// `batch` is `None`, else batches of up to `batch` consecutive events of the same site.
    pub fn build(
        config: ModelConfig,
        events: usize,
        batch: Option<usize>,
    ) -> Result<Self, serde_json::Error> {
        let mut stream = EventStream::new(config);
        let run_id = stream.run_id().to_owned();
        let batch = batch.unwrap_or(1).max(1);
        let mut pending: Vec<Vec<GeneratedEvent>> = Vec::new();
        let mut templates = Vec::new();
        for mut generated in stream.by_ref().take(events) {
            // numbered at send time; placeholder digits for now
            generated.event.event_id = Some(event_id(&run_id, 0).into());
            let site = generated.site;
            if pending.len() <= site {
                pending.resize_with(site + 1, Vec::new);
            }
            pending[site].push(generated);
            if pending[site].len() == batch {
                let group = std::mem::take(&mut pending[site]);
                templates.push(template(&group, batch > 1)?);
            }
        }
        for group in pending.into_iter().filter(|g| !g.is_empty()) {
            templates.push(template(&group, batch > 1)?);
        }
        let events = templates.iter().map(|t| t.events).sum();
        Ok(Self {
            run_id,
            templates,
            events,
        })
    }
}

fn template(
    group: &[GeneratedEvent],
    as_batch: bool,
) -> Result<RequestTemplate, serde_json::Error> {
    let first = &group[0];
    let mut body = Vec::with_capacity(group.len() * 512);
    let mut id_offsets = Vec::with_capacity(group.len());
    if as_batch {
        body.extend_from_slice(b"{\"events\":[");
    }
    for (i, generated) in group.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let start = body.len();
        serde_json::to_writer(&mut body, &generated.event)?;
        let id = generated.event.event_id.as_deref().unwrap_or_default();
        let needle = format!("\"event_id\":\"{id}\"");
        let at = find(&body[start..], needle.as_bytes()).map(|p| start + p);
        if let Some(at) = at {
            // the digits end right before the closing quote
            id_offsets.push(at + needle.len() - 1 - SEQ_DIGITS);
        }
    }
    if as_batch {
        body.extend_from_slice(b"]}");
    }
    Ok(RequestTemplate {
        site: first.site,
        user_agent: first.user_agent,
        accept_language: first.accept_language,
        forwarded_for: first.ip,
        events: group.len(),
        body,
        id_offsets,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    fn config() -> ModelConfig {
        ModelConfig::new(3, 2, 1_795_000_000_000)
    }

    #[test]
    fn single_templates_renumber_ids() {
        let pool = Pool::build(config(), 50, None).unwrap();
        assert_eq!(pool.templates.len(), 50);
        assert_eq!(pool.events, 50);
        let body = pool.templates[0].body(0xabc);
        let event = ecomdash_protocol::decode_event(&body).unwrap();
        let expected = event_id(&pool.run_id, 0xabc);
        assert_eq!(event.event_id.as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn batch_templates_group_by_site_and_number_every_event() {
        let pool = Pool::build(config(), 500, Some(10)).unwrap();
        assert_eq!(pool.events, 500);
        assert!(pool.templates.iter().all(|t| t.events <= 10));
        let template = pool.templates.iter().find(|t| t.events == 10).unwrap();
        let body = template.body(100);
        let batch = ecomdash_protocol::decode_batch(&body).unwrap();
        assert_eq!(batch.events.len(), 10);
        for (i, raw) in batch.events.iter().enumerate() {
            let event = ecomdash_protocol::decode_event(raw.get().as_bytes()).unwrap();
            assert_eq!(
                event.event_id.as_deref(),
                Some(event_id(&pool.run_id, 100 + i as u64).as_str())
            );
            let host = format!("https://{}/", ModelConfig::site_host(template.site));
            assert!(event.url.starts_with(&host), "{} vs {host}", event.url);
        }
    }
}
