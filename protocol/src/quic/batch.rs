//! Batch frames: [`WireEvent`]s to a verified FlatBuffers `Batch` and back.

use flatbuffers::{FlatBufferBuilder, ForwardsUOffset, Vector, VerifierOptions, WIPOffset};

use super::{
    FRAME_BATCH, MAX_QUIC_BATCH_BYTES, MAX_QUIC_BATCH_EVENTS, MAX_VERIFY_DEPTH, MAX_VERIFY_TABLES,
};
use crate::error::{ErrorCode, ErrorDetail};
use crate::event::{
    Click, Dimensions, Ecommerce, ErrorInfo, EventType, OrderItem, PropValue, Props, Vitals,
    WireEvent,
};
use crate::fb::ecomdash::fb;
use crate::text::Text;

/// A verified batch frame, borrowing its strings from the frame.
#[derive(Debug)]
pub struct DecodedBatch<'a> {
    pub api_key: Option<&'a str>,
    pub sequence: u64,
    /// One entry per event, in order: the event, or why it cannot be one (e.g. unknown type).
    pub events: Vec<Result<WireEvent<'a>, ErrorDetail>>,
}

/// Verifies and decodes a batch frame (kind byte included). Never panics on any input.
pub fn decode_batch_frame(frame: &[u8]) -> Result<DecodedBatch<'_>, ErrorDetail> {
    if frame.len() > MAX_QUIC_BATCH_BYTES {
        return Err(ErrorDetail::new(
            ErrorCode::BodyTooLarge,
            format!("batch frame is larger than {MAX_QUIC_BATCH_BYTES} bytes"),
        ));
    }
    let Some((&kind, buffer)) = frame.split_first() else {
        return Err(invalid("empty frame"));
    };
    if kind != FRAME_BATCH {
        return Err(invalid(&format!("expected a batch frame, got kind {kind}")));
    }
    // `batch_buffer_has_identifier` asserts (panics) on buffers shorter than its header
    if buffer.len() < 8 || !fb::batch_buffer_has_identifier(buffer) {
        return Err(invalid("missing file identifier EDB1"));
    }
    let options = VerifierOptions {
        max_depth: MAX_VERIFY_DEPTH,
        max_tables: MAX_VERIFY_TABLES,
        ..VerifierOptions::default()
    };
    let batch = fb::root_as_batch_with_opts(&options, buffer)
        .map_err(|e| invalid(&format!("invalid flatbuffer: {e}")))?;
    let list = batch.events();
    let len = list.map_or(0, |l| l.len());
    if len > MAX_QUIC_BATCH_EVENTS {
        return Err(ErrorDetail::new(
            ErrorCode::BatchTooLarge,
            format!("a batch holds at most {MAX_QUIC_BATCH_EVENTS} events"),
        ));
    }
    let mut events = Vec::with_capacity(len);
    if let Some(list) = list {
        for event in list {
            events.push(from_fb(event));
        }
    }
    Ok(DecodedBatch {
        api_key: batch.api_key(),
        sequence: batch.sequence(),
        events,
    })
}

fn invalid(message: &str) -> ErrorDetail {
    ErrorDetail::new(ErrorCode::InvalidJson, message)
}

fn text(s: Option<&str>) -> Option<Text<'_>> {
    s.map(Text::from)
}

fn event_type(t: fb::EventType) -> Option<EventType> {
    EventType::ALL.get(usize::from(t.0)).copied()
}

fn from_fb(e: fb::Event<'_>) -> Result<WireEvent<'_>, ErrorDetail> {
    let event_type =
        event_type(e.type_()).ok_or_else(|| ErrorDetail::field("type", "unknown event type"))?;
    let url = e
        .url()
        .ok_or_else(|| ErrorDetail::field("url", "missing field"))?;
    let dims = |d: Option<&fb::Dimensions>| d.map(|d| Dimensions { w: d.w(), h: d.h() });
    let props = e.props().map(|list| {
        Props(
            list.iter()
                .map(|p| {
                    let value = if let Some(t) = p.text() {
                        PropValue::Text(Text::from(t))
                    } else if let Some(n) = p.number() {
                        PropValue::Number(n)
                    } else if let Some(b) = p.boolean() {
                        PropValue::Bool(b)
                    } else {
                        PropValue::Null
                    };
                    (Text::from(p.key()), value)
                })
                .collect(),
        )
    });
    let ecommerce = e.ecommerce().map(|c| Ecommerce {
        product_id: text(c.product_id()),
        product_name: text(c.product_name()),
        product_price: c.product_price(),
        product_quantity: c.product_quantity(),
        order_id: text(c.order_id()),
        order_value: c.order_value(),
        order_currency: text(c.order_currency()),
        order_items: c.order_items().map(|items| {
            items
                .iter()
                .map(|i| OrderItem {
                    product_id: text(i.product_id()),
                    quantity: i.quantity(),
                    price: i.price(),
                })
                .collect()
        }),
    });
    Ok(WireEvent {
        event_type,
        name: text(e.name()),
        url: Text::from(url),
        referrer: text(e.referrer()),
        title: text(e.title()),
        ts: e.ts(),
        event_id: text(e.event_id()),
        session_id: text(e.session_id()),
        visitor_id: text(e.visitor_id()),
        user_id: text(e.user_id()),
        screen: dims(e.screen()),
        viewport: dims(e.viewport()),
        lang: text(e.lang()),
        props,
        ecommerce,
        vitals: e.vitals().map(|v| Vitals {
            lcp: v.lcp(),
            inp: v.inp(),
            fid: v.fid(),
            cls: v.cls(),
            ttfb: v.ttfb(),
            fcp: v.fcp(),
        }),
        click: e.click().map(|c| Click {
            x: c.x(),
            y: c.y(),
            selector: text(c.selector()),
        }),
        scroll_depth: e.scroll_depth(),
        engagement_ms: e.engagement_ms(),
        error: e.error().map(|x| ErrorInfo {
            message: text(x.message()),
            source: text(x.source()),
            line: x.line(),
        }),
        api_key: None,
        user_agent: text(e.user_agent()),
        ip: text(e.ip()),
    })
}

/// Encodes a batch frame (kind byte included). `api_key` of each event is ignored: the batch
/// carries one key.
pub fn encode_batch_frame(api_key: &str, sequence: u64, events: &[WireEvent<'_>]) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::with_capacity(256 + events.len() * 256);
    let mut offsets = Vec::with_capacity(events.len());
    for event in events {
        offsets.push(to_fb(&mut fbb, event));
    }
    let events = fbb.create_vector(&offsets);
    let api_key = fbb.create_string(api_key);
    let batch = fb::Batch::create(
        &mut fbb,
        &fb::BatchArgs {
            api_key: Some(api_key),
            sequence,
            events: Some(events),
        },
    );
    fb::finish_batch_buffer(&mut fbb, batch);
    let data = fbb.finished_data();
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(FRAME_BATCH);
    frame.extend_from_slice(data);
    frame
}

type Str<'b> = Option<WIPOffset<&'b str>>;

fn string<'b>(fbb: &mut FlatBufferBuilder<'b>, s: &Option<Text<'_>>) -> Str<'b> {
    s.as_deref().map(|s| fbb.create_string(s))
}

fn to_fb<'b>(fbb: &mut FlatBufferBuilder<'b>, e: &WireEvent<'_>) -> WIPOffset<fb::Event<'b>> {
    let name = string(fbb, &e.name);
    let url = Some(fbb.create_string(&e.url));
    let referrer = string(fbb, &e.referrer);
    let title = string(fbb, &e.title);
    let event_id = string(fbb, &e.event_id);
    let session_id = string(fbb, &e.session_id);
    let visitor_id = string(fbb, &e.visitor_id);
    let user_id = string(fbb, &e.user_id);
    let lang = string(fbb, &e.lang);
    let user_agent = string(fbb, &e.user_agent);
    let ip = string(fbb, &e.ip);
    let props = e.props.as_ref().map(|props| props_to_fb(fbb, props));
    let ecommerce = e.ecommerce.as_ref().map(|c| ecommerce_to_fb(fbb, c));
    let vitals = e.vitals.map(|v| {
        fb::Vitals::create(
            fbb,
            &fb::VitalsArgs {
                lcp: v.lcp,
                inp: v.inp,
                fid: v.fid,
                cls: v.cls,
                ttfb: v.ttfb,
                fcp: v.fcp,
            },
        )
    });
    let click = e.click.as_ref().map(|c| {
        let selector = string(fbb, &c.selector);
        fb::Click::create(
            fbb,
            &fb::ClickArgs {
                x: c.x,
                y: c.y,
                selector,
            },
        )
    });
    let error = e.error.as_ref().map(|x| {
        let message = string(fbb, &x.message);
        let source = string(fbb, &x.source);
        fb::ErrorInfo::create(
            fbb,
            &fb::ErrorInfoArgs {
                message,
                source,
                line: x.line,
            },
        )
    });
    let screen = e.screen.map(|d| fb::Dimensions::new(d.w, d.h));
    let viewport = e.viewport.map(|d| fb::Dimensions::new(d.w, d.h));
    let type_index = EventType::ALL
        .iter()
        .position(|t| *t == e.event_type)
        .unwrap_or(0);
    fb::Event::create(
        fbb,
        &fb::EventArgs {
            type_: fb::EventType(u8::try_from(type_index).unwrap_or(0)),
            name,
            url,
            referrer,
            title,
            ts: e.ts,
            event_id,
            session_id,
            visitor_id,
            user_id,
            screen: screen.as_ref(),
            viewport: viewport.as_ref(),
            lang,
            props,
            ecommerce,
            vitals,
            click,
            scroll_depth: e.scroll_depth,
            engagement_ms: e.engagement_ms,
            error,
            user_agent,
            ip,
        },
    )
}

type PropList<'b> = WIPOffset<Vector<'b, ForwardsUOffset<fb::Prop<'b>>>>;

fn props_to_fb<'b>(fbb: &mut FlatBufferBuilder<'b>, props: &Props<'_>) -> PropList<'b> {
    let mut offsets = Vec::with_capacity(props.0.len());
    for (key, value) in &props.0 {
        let key = Some(fbb.create_string(key));
        let mut args = fb::PropArgs {
            key,
            ..fb::PropArgs::default()
        };
        match value {
            PropValue::Null => {}
            PropValue::Bool(b) => args.boolean = Some(*b),
            PropValue::Number(n) => args.number = Some(*n),
            PropValue::Text(t) => args.text = Some(fbb.create_string(t)),
        }
        offsets.push(fb::Prop::create(fbb, &args));
    }
    fbb.create_vector(&offsets)
}

fn ecommerce_to_fb<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    c: &Ecommerce<'_>,
) -> WIPOffset<fb::Ecommerce<'b>> {
    let product_id = string(fbb, &c.product_id);
    let product_name = string(fbb, &c.product_name);
    let order_id = string(fbb, &c.order_id);
    let order_currency = string(fbb, &c.order_currency);
    let order_items = c.order_items.as_ref().map(|items| {
        let mut offsets = Vec::with_capacity(items.len());
        for item in items {
            let product_id = string(fbb, &item.product_id);
            offsets.push(fb::OrderItem::create(
                fbb,
                &fb::OrderItemArgs {
                    product_id,
                    quantity: item.quantity,
                    price: item.price,
                },
            ));
        }
        fbb.create_vector(&offsets)
    });
    fb::Ecommerce::create(
        fbb,
        &fb::EcommerceArgs {
            product_id,
            product_name,
            product_price: c.product_price,
            product_quantity: c.product_quantity,
            order_id,
            order_value: c.order_value,
            order_currency,
            order_items,
        },
    )
}
