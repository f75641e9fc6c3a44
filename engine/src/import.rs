//! Bulk import of NDJSON (one wire event per line, `ts` trusted, optional `user_agent` and `ip`
//! feeding enrichment): the offline `ecomdash import` and `POST /api/v1/admin/import` share it.
//!
//! Lines are processed in chunks: each chunk is decoded and validated on all cores
//! (`std::thread::scope`, one slice per thread), sessions are assigned in line order (a
//! visitor's session depends on the order of its events: a cheap hash-map step), then the lines
//! are enriched and encoded on all cores again, one row buffer per thread, and appended as one
//! chunk, which the store writes while the next chunk is processed. Sessions are built the way
//! live ones are: a visitor's session ends after the idle timeout by event time; sessions idle
//! as of the newest imported event are written after each chunk, the rest at the end.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use ecomdash_protocol::limits::{MAX_IMPORT_ERRORS_REPORTED, MAX_IMPORT_LINE_BYTES};
use ecomdash_protocol::{
    decode_event, validate_event, ErrorCode, ErrorDetail, ImportReport, LineError, ValidateOptions,
    WireEvent,
};
use ecomdash_storage::{AppendError, AppendTicket, RowBuf, Store, Table};
use rand::RngCore;
use rustc_hash::FxHashMap;

use crate::enrich::scan::{count_byte, find_byte};
use crate::live::LiveEvent;
use crate::pipeline::{ClientContext, Enricher, ImportSession, SiteContext};
use crate::rows::{MissingColumn, SessionColumns};
use crate::session::{SessionIndex, SessionState};

/// Lines per chunk: large enough that the per-chunk thread start and append are noise.
pub const IMPORT_CHUNK_LINES: usize = 16_384;
/// Bytes per chunk, whichever comes first.
pub const IMPORT_CHUNK_BYTES: usize = 8 * 1024 * 1024;

/// Import state across chunks of one run.
pub struct Importer<'e> {
    enricher: &'e Enricher,
    domain: Arc<str>,
    sessions: SessionIndex,
    open: FxHashMap<Arc<str>, SessionState>,
    session_cols: SessionColumns,
    idle_timeout_ms: i64,
    run_key: u64,
    threads: usize,
    now_ms: i64,
    next_line: u64,
    newest_event_ms: i64,
    pub report: ImportReport,
}

/// The rows one chunk produced, ready to append.
pub struct ChunkRows {
    pub events: Vec<RowBuf>,
    pub sessions: RowBuf,
}

impl<'e> Importer<'e> {
    pub fn new(
        enricher: &'e Enricher,
        domain: &str,
        idle_timeout_ms: i64,
        now_ms: i64,
    ) -> Result<Importer<'e>, MissingColumn> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Importer {
            enricher,
            domain: Arc::from(domain),
            sessions: SessionIndex::new(idle_timeout_ms),
            open: FxHashMap::default(),
            session_cols: SessionColumns::resolve()?,
            idle_timeout_ms,
            run_key: rand::thread_rng().next_u64(),
            threads,
            now_ms,
            next_line: 1,
            newest_event_ms: i64::MIN,
            report: ImportReport::default(),
        })
    }

    /// Processes complete lines (the chunk must end at a line boundary).
    pub fn process_chunk(&mut self, chunk: &[u8]) -> ChunkRows {
        let mut lines = split_lines(chunk);
        // a chunk ending in '\n' yields one empty tail element: drop it, keep numbering exact
        if chunk.ends_with(b"\n") {
            lines.pop();
        }
        let lines = &lines[..];
        let first_line = self.next_line;
        self.next_line += lines.len() as u64;
        let per_thread = lines.len().div_ceil(self.threads.max(1)).max(1);
        let site = SiteContext {
            domain: &self.domain,
            sessions: &self.sessions,
        };
        let client = ClientContext::Import {
            run_key: self.run_key,
        };
        let options = ValidateOptions {
            now_ms: self.now_ms,
            check_ts_window: false,
        };
        let enricher = self.enricher;
        // decode, validate and hash the visitor in parallel (this thread takes the first slice)
        let run_key = self.run_key;
        let domain: &str = &self.domain;
        let decoded: Vec<Decoded<'_>> = on_all_threads(
            lines
                .chunks(per_thread)
                .enumerate()
                .map(|(part, slice)| (first_line + (part * per_thread) as u64, slice)),
            move |(base, slice)| {
                let mut decoded = decode_lines(slice, base, options);
                decoded.visitors = decoded
                    .events
                    .iter()
                    .map(|(_, result)| {
                        result.as_ref().ok().and_then(|event| {
                            enricher.import_visitor_of(domain, event, run_key, options.now_ms)
                        })
                    })
                    .collect();
                decoded
            },
        );
        self.report.lines += lines.len() as u64;
        // sessions in line order (a visitor's session depends on its earlier events) ...
        let sessions: Vec<Vec<Option<ImportSession>>> = decoded
            .iter()
            .map(|part| {
                part.visitors
                    .iter()
                    .map(|visitor| {
                        visitor.map(|(visitor, event_ms)| {
                            enricher.assign_import_visitor(&site, visitor, event_ms)
                        })
                    })
                    .collect()
            })
            .collect();
        // ... then enrichment and row encoding on all cores, one row buffer per thread; the
        // decoded events are read in place (each is several hundred bytes: moving them cost
        // more than decoding some of their fields). Each thread also folds its events into
        // sessions, so an event's live record is freed on the thread that made it, and this
        // thread only merges one partial state per session and part, in line order.
        let (site, client) = (&site, &client);
        let parts: Vec<PartOutcome> = on_all_threads(
            decoded.into_iter().zip(sessions),
            move |(part, sessions)| {
                // rows take about as many bytes as their lines
                let mut out = PartOutcome {
                    rows: RowBuf::with_capacity(Table::Events, part.bytes + 4096),
                    imported: 0,
                    rejected: Vec::new(),
                    sessions: FxHashMap::default(),
                    newest_event_ms: i64::MIN,
                };
                for ((line, result), session) in part.events.iter().zip(sessions) {
                    let result = match result {
                        Ok(event) => enricher.prepare_with_session(
                            site,
                            event,
                            client,
                            options.now_ms,
                            &mut out.rows,
                            session,
                        ),
                        Err(error) => Err(error.clone()),
                    };
                    match result {
                        Ok(live) => {
                            out.imported += 1;
                            if let Some(event) = live.filter(|e| !e.is_bot) {
                                out.add(&event);
                            }
                        }
                        Err(error) => out.rejected.push((*line, error)),
                    }
                }
                // freed here, on the thread (and malloc arena) that enriched them, rather
                // than all on this one
                drop(part);
                out
            },
        );
        let mut events = Vec::with_capacity(parts.len());
        for part in parts {
            if !part.rows.is_empty() {
                events.push(part.rows);
            }
            self.report.imported += part.imported;
            self.report.rejected += part.rejected.len() as u64;
            let room = MAX_IMPORT_ERRORS_REPORTED.saturating_sub(self.report.errors.len());
            self.report.errors.extend(
                part.rejected
                    .into_iter()
                    .take(room)
                    .map(|(line, error)| LineError { line, error }),
            );
            self.newest_event_ms = self.newest_event_ms.max(part.newest_event_ms);
            // parts in line order: a session's later part merges into its earlier state
            for (id, state) in part.sessions {
                match self.open.entry(id) {
                    Entry::Occupied(mut open) => open.get_mut().merge(state),
                    Entry::Vacant(slot) => {
                        slot.insert(state);
                    }
                }
            }
        }
        let mut sessions = RowBuf::new(Table::Sessions);
        self.close_sessions(
            Some(self.newest_event_ms.saturating_sub(self.idle_timeout_ms)),
            &mut sessions,
        );
        ChunkRows { events, sessions }
    }

    /// Writes the rows of sessions idle before `before_ms` (all of them when `None`).
    fn close_sessions(&mut self, before_ms: Option<i64>, out: &mut RowBuf) {
        let closing: Vec<Arc<str>> = self
            .open
            .iter()
            .filter(|(_, s)| before_ms.is_none_or(|before| s.last_ms < before))
            .map(|(id, _)| id.clone())
            .collect();
        for id in closing {
            if let Some(state) = self.open.remove(&id) {
                if state
                    .push_row(&self.domain, &self.session_cols, out)
                    .is_ok()
                {
                    self.report.sessions += 1;
                }
            }
        }
    }

    /// Closes every session still open; call once after the last chunk.
    pub fn finish(&mut self) -> RowBuf {
        let mut sessions = RowBuf::new(Table::Sessions);
        self.close_sessions(None, &mut sessions);
        sessions
    }
}

/// What enriching one part of a chunk produced.
struct PartOutcome {
    rows: RowBuf,
    imported: u64,
    /// Numbers of the refused lines, in order, and why.
    rejected: Vec<(u64, ErrorDetail)>,
    /// The part's sessions (bots left out), each folded over the part's events in line order.
    sessions: FxHashMap<Arc<str>, SessionState>,
    newest_event_ms: i64,
}

impl PartOutcome {
    fn add(&mut self, event: &LiveEvent) {
        self.newest_event_ms = self.newest_event_ms.max(event.event_ms);
        match self.sessions.get_mut(&event.session_id) {
            Some(state) => state.add(event),
            None => {
                self.sessions
                    .insert(event.session_id.clone(), SessionState::start(event));
            }
        }
    }
}

/// The decoded lines of one slice of a chunk.
struct Decoded<'c> {
    events: Vec<(u64, Result<WireEvent<'c>, ErrorDetail>)>,
    /// Per event: its visitor hash and event time when it has no `session_id`.
    visitors: Vec<Option<(u64, i64)>>,
    /// Bytes of the slice's lines.
    bytes: usize,
}

/// `work` on every item, the first on this thread and each other on a thread of its own (the
/// items are one slice per core); results in item order. A panic in `work` is resumed here.
fn on_all_threads<I, T, W>(items: impl IntoIterator<Item = I>, work: W) -> Vec<T>
where
    I: Send,
    T: Send,
    W: Fn(I) -> T + Sync,
{
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Vec::new();
    };
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.map(|item| scope.spawn(move || work(item))).collect();
        let mut out = Vec::with_capacity(handles.len() + 1);
        out.push(work(first));
        for handle in handles {
            out.push(
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        out
    })
}

/// Decodes and validates lines; `base` is the number of the first one. Blank lines are skipped.
fn decode_lines<'c>(lines: &[&'c [u8]], base: u64, options: ValidateOptions) -> Decoded<'c> {
    let mut out = Vec::with_capacity(lines.len());
    let mut bytes = 0;
    for (i, line) in lines.iter().enumerate() {
        bytes += line.len();
        let line = trim_line(line);
        if line.is_empty() {
            continue;
        }
        let result = if line.len() > MAX_IMPORT_LINE_BYTES {
            Err(ErrorDetail::new(
                ErrorCode::BodyTooLarge,
                format!("line is longer than {MAX_IMPORT_LINE_BYTES} bytes"),
            ))
        } else {
            decode_event(line).and_then(|event| {
                validate_event(&event, options)?;
                Ok(event)
            })
        };
        out.push((base + i as u64, result));
    }
    Decoded {
        events: out,
        visitors: Vec::new(),
        bytes,
    }
}

/// `chunk.split(|b| *b == b'\n')`, collected, with a word-at-a-time search for the line ends
/// (the per-byte closure cost ~3 instructions a byte, ~1,000 a line).
fn split_lines(chunk: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::with_capacity(chunk.len() / 256 + 1);
    let mut rest = chunk;
    while let Some(end) = find_byte(rest, b'\n') {
        lines.push(&rest[..end]);
        rest = &rest[end + 1..];
    }
    lines.push(rest);
    lines
}

fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    &line[start..]
}

/// Appends the rows of processed chunks, keeping one chunk in flight: the store's writer thread
/// stores chunk N while the importer processes chunk N + 1.
pub struct ImportSink<'s> {
    store: &'s Store,
    pending: Vec<AppendTicket>,
    pub deduplicated: u64,
}

impl<'s> ImportSink<'s> {
    pub fn new(store: &'s Store) -> ImportSink<'s> {
        ImportSink {
            store,
            pending: Vec::new(),
            deduplicated: 0,
        }
    }

    /// Queues the chunk's rows, then waits for the previous chunk's to be durable.
    pub fn submit(&mut self, rows: ChunkRows) -> Result<(), AppendError> {
        let previous = std::mem::take(&mut self.pending);
        for events in rows.events {
            self.pending.push(self.store.append(events));
        }
        if !rows.sessions.is_empty() {
            self.pending.push(self.store.append(rows.sessions));
        }
        self.wait_all(previous)
    }

    /// Appends the final session rows and waits until everything is durable.
    pub fn finish(&mut self, sessions: RowBuf) -> Result<(), AppendError> {
        if !sessions.is_empty() {
            self.pending.push(self.store.append(sessions));
        }
        let pending = std::mem::take(&mut self.pending);
        self.wait_all(pending)
    }

    fn wait_all(&mut self, tickets: Vec<AppendTicket>) -> Result<(), AppendError> {
        let mut result = Ok(());
        for ticket in tickets {
            match ticket.wait() {
                Ok(receipt) => self.deduplicated += receipt.rows_deduplicated as u64,
                Err(e) => result = Err(e),
            }
        }
        result
    }
}

/// Reads a file into one reused buffer and hands out chunks of complete lines (at most
/// [`IMPORT_CHUNK_LINES`] lines or about [`IMPORT_CHUNK_BYTES`] bytes; the last chunk may end
/// without a newline). Unlike [`LineChunker`] (for streamed bodies) it copies each byte once, from
/// the kernel into the buffer, and allocates nothing per chunk.
pub struct ChunkReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// Bytes of `buf` read from the file.
    filled: usize,
    /// Bytes of `buf` handed out by the last chunk.
    taken: usize,
    eof: bool,
}

impl<R: std::io::Read> ChunkReader<R> {
    pub fn new(reader: R) -> ChunkReader<R> {
        ChunkReader {
            reader,
            buf: vec![0; IMPORT_CHUNK_BYTES],
            filled: 0,
            taken: 0,
            eof: false,
        }
    }

    /// The next chunk, or `None` at the end of the file.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        self.buf.copy_within(self.taken..self.filled, 0);
        self.filled -= self.taken;
        self.taken = 0;
        loop {
            while !self.eof && self.filled < self.buf.len() {
                match self.reader.read(&mut self.buf[self.filled..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.filled == 0 {
                return Ok(None);
            }
            let data = &self.buf[..self.filled];
            let cut = match cut_after_lines(data, IMPORT_CHUNK_LINES) {
                Some(cut) => cut,
                None if self.eof => self.filled,
                None => {
                    // no line end in a full buffer: one line is longer than a chunk; grow (the
                    // line is then refused by its length, with its number)
                    let grown = self.buf.len() * 2;
                    self.buf.resize(grown, 0);
                    continue;
                }
            };
            self.taken = cut;
            return Ok(Some(&self.buf[..cut]));
        }
    }
}

/// The position after the `max_lines`-th newline of `data`, or after its last newline when it
/// has fewer; `None` without any.
fn cut_after_lines(data: &[u8], max_lines: usize) -> Option<usize> {
    let mut pos = 0;
    let mut cut = None;
    for _ in 0..max_lines {
        match find_byte(&data[pos..], b'\n') {
            Some(end) => {
                pos += end + 1;
                cut = Some(pos);
            }
            None => break,
        }
    }
    cut
}

/// Accumulates streamed bytes and hands out chunks that end at a line boundary.
#[derive(Default)]
pub struct LineChunker {
    buf: Vec<u8>,
    newlines: usize,
}

impl LineChunker {
    pub fn push(&mut self, data: &[u8]) {
        self.newlines += count_byte(data, b'\n');
        self.buf.extend_from_slice(data);
    }

    /// A chunk of complete lines once a chunk's worth of lines or bytes is buffered.
    pub fn take_full(&mut self) -> Option<Vec<u8>> {
        if self.newlines < IMPORT_CHUNK_LINES && self.buf.len() < IMPORT_CHUNK_BYTES {
            return None;
        }
        let cut = self.buf.iter().rposition(|b| *b == b'\n')? + 1;
        let tail = self.buf.split_off(cut);
        self.newlines = 0;
        Some(std::mem::replace(&mut self.buf, tail))
    }

    /// Whatever is left (the last line may lack its newline).
    pub fn take_rest(&mut self) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            return None;
        }
        self.newlines = 0;
        let mut chunk = std::mem::take(&mut self.buf);
        if !chunk.ends_with(b"\n") {
            chunk.push(b'\n');
        }
        Some(chunk)
    }

    /// Bytes buffered without a line end: a line longer than any chunk is an error.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;
    use crate::enrich::TrustedProxies;
    use crate::pipeline::fixture::{self, Fixture};

    #[test]
    fn chunker_cuts_at_line_ends() {
        let mut chunker = LineChunker::default();
        let line = b"{\"type\":\"pageview\"}\n";
        for _ in 0..IMPORT_CHUNK_LINES {
            chunker.push(line);
        }
        chunker.push(b"{\"partial");
        let chunk = chunker.take_full().unwrap();
        assert_eq!(chunk.len(), line.len() * IMPORT_CHUNK_LINES);
        assert!(chunker.take_full().is_none());
        assert_eq!(chunker.take_rest().unwrap(), b"{\"partial\n");
    }

    #[test]
    fn chunk_reader_hands_out_whole_lines_once() {
        let mut input = Vec::new();
        for i in 0..(IMPORT_CHUNK_LINES * 2 + 10) {
            input.extend_from_slice(format!("{{\"line\":{i}}}\n").as_bytes());
        }
        // a line longer than the buffer, then one without a newline at the end
        input.extend(std::iter::repeat_n(b'x', IMPORT_CHUNK_BYTES + 5));
        input.extend_from_slice(b"\nlast");
        // a reader that returns few bytes per call
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(100_003);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut reader = ChunkReader::new(Trickle(&input));
        let mut out = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = reader.next_chunk().unwrap() {
            assert!(chunk.ends_with(b"\n") || chunk.ends_with(b"last"));
            assert!(count_byte(chunk, b'\n') <= IMPORT_CHUNK_LINES);
            out.extend_from_slice(chunk);
            chunks += 1;
        }
        assert_eq!(out, input);
        assert!(chunks >= 4, "{chunks}");
        assert!(ChunkReader::new(&b""[..]).next_chunk().unwrap().is_none());
    }

    #[test]
    fn split_lines_is_split_at_newlines() {
        for input in [
            &b""[..],
            b"\n",
            b"a",
            b"a\n",
            b"\n\nab\ncd",
            b"a line that is longer than eight bytes\nand another\n\n",
        ] {
            let expected: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
            assert_eq!(split_lines(input), expected, "{input:?}");
        }
    }

    #[test]
    fn an_assigned_visitor_is_the_one_preparing_computes() {
        let fixture = Fixture::new();
        let (enricher, site, now) = (&fixture.enricher, fixture.site(), fixture::NOW);
        let event = decode_event(
            br#"{"type":"pageview","url":"https://shop.example/","ts":1767225000000,"user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0","ip":"198.51.100.7"}"#,
        )
        .unwrap();
        let client = ClientContext::Import { run_key: 7 };
        let mut rows = RowBuf::new(Table::Events);
        let assigned = enricher
            .import_visitor_of(site.domain, &event, 7, now)
            .map(|(visitor, event_ms)| enricher.assign_import_visitor(&site, visitor, event_ms));
        let with = enricher
            .prepare_with_session(&site, &event, &client, now, &mut rows, assigned)
            .unwrap()
            .unwrap();
        let without = enricher
            .prepare_with_session(&site, &event, &client, now, &mut rows, None)
            .unwrap()
            .unwrap();
        assert_eq!(with.visitor, without.visitor);
        assert_eq!(with.visitor_id, without.visitor_id);
        assert_eq!(with.session_id, without.session_id);
    }

    #[test]
    fn imports_lines_reports_rejects_and_builds_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let enricher =
            Enricher::open(dir.path(), 1_767_225_600_000, TrustedProxies::none()).unwrap();
        let mut importer =
            Importer::new(&enricher, "shop.example", 1_800_000, 1_767_225_600_000).unwrap();
        let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let mut input = String::new();
        for i in 0..10 {
            // one visitor, two visits 2 hours apart
            let ts = 1_700_000_000_000i64
                + if i < 5 {
                    i * 60_000
                } else {
                    7_200_000 + i * 60_000
                };
            input.push_str(&format!(
                "{{\"type\":\"pageview\",\"url\":\"https://shop.example/p{i}\",\"ts\":{ts},\"user_agent\":\"{ua}\",\"ip\":\"198.51.100.7\"}}\n"
            ));
        }
        input.push_str("not json\n\n{\"type\":\"pageview\"}\n");
        let rows = importer.process_chunk(input.as_bytes());
        let rest = importer.finish();
        let report = &importer.report;
        assert_eq!((report.imported, report.rejected), (10, 2), "{report:?}");
        assert_eq!(report.errors[0].line, 11);
        assert_eq!(report.errors[1].line, 13);
        assert_eq!(report.errors[1].error.field.as_deref(), Some("url"));
        assert_eq!(rows.events.iter().map(RowBuf::row_count).sum::<usize>(), 10);
        assert_eq!(rows.sessions.row_count() + rest.row_count(), 2);
        assert_eq!(report.sessions, 2);
    }
}
