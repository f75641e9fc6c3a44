#![expect(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ecomdash_storage::{Store, StoreConfig};
use ractor::Actor;

use super::session::SessionMsg;
use super::site::SiteMsg;
use super::supervisor::{SiteActorSlot, SiteSpec, Supervisor, SupervisorMsg};
use super::ActorContext;
use crate::clock::ManualClock;
use crate::live::{LiveEvent, LiveStats};
use crate::metrics::Metrics;
use crate::rows::SessionColumns;
use crate::session::SessionIndex;

const T0: i64 = 1_767_225_600_000;
const IDLE_MS: i64 = 30 * 60 * 1000;

fn event(session: &str) -> LiveEvent {
    LiveEvent {
        received_ms: T0,
        event_ms: T0,
        visitor_id: Arc::from("v"),
        session_id: Arc::from(session),
        is_pageview: true,
        path: Some(Arc::from("/")),
        ..LiveEvent::default()
    }
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervision_keeps_other_sessions_and_idle_sessions_close_by_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(ActorContext {
        store: store.clone(),
        session_cols: SessionColumns::resolve().unwrap(),
        metrics: metrics.clone(),
        clock: clock.clone(),
        session_idle_timeout_ms: IDLE_MS,
    });
    let (supervisor, _) = Actor::spawn(None, Supervisor, ctx).await.unwrap();
    let live = Arc::new(LiveStats::default());
    let slot = SiteActorSlot::default();
    let spec = SiteSpec {
        domain: Arc::from("shop.example"),
        live: live.clone(),
        sessions: Arc::new(SessionIndex::new(IDLE_MS)),
        actors: Arc::default(),
        slot: slot.clone(),
    };
    ractor::call_t!(supervisor, SupervisorMsg::StartSite, 5000, spec)
        .unwrap()
        .unwrap();
    let site = slot.read().clone().unwrap();
    let sessions = || live.live_sessions.load(Ordering::Relaxed);

    site.cast(SiteMsg::Events(vec![event("a"), event("b"), event("a")]))
        .unwrap();
    wait_until("two sessions", || sessions() == 2).await;

    // a failing SessionActor loses its own session only
    let a = ractor::call_t!(site, SiteMsg::SessionActor, 5000, Arc::from("a"))
        .unwrap()
        .unwrap();
    a.cast(SessionMsg::Fail).unwrap();
    wait_until("session a dropped", || sessions() == 1).await;
    let b = ractor::call_t!(site, SiteMsg::SessionActor, 5000, Arc::from("b")).unwrap();
    assert!(b.is_some_and(|b| b.get_id() != a.get_id()));
    // its next event starts it again
    site.cast(SiteMsg::Events(vec![event("a")])).unwrap();
    wait_until("session a back", || sessions() == 2).await;

    // a failing SiteActor is restarted by the Supervisor; ractor ends its linked sessions
    site.cast(SiteMsg::Fail).unwrap();
    wait_until("site actor restarted", || {
        slot.read()
            .as_ref()
            .is_some_and(|s| s.get_id() != site.get_id())
    })
    .await;
    let site = slot.read().clone().unwrap();
    assert_eq!(sessions(), 0);
    let b_again = ractor::call_t!(site, SiteMsg::SessionActor, 5000, Arc::from("b")).unwrap();
    assert!(b_again.is_none());
    site.cast(SiteMsg::Events(vec![event("a"), event("b")]))
        .unwrap();
    wait_until("sessions on the restarted site actor", || sessions() == 2).await;

    // idle sessions close once the (injected) clock passes the timeout, writing their rows
    clock.advance(IDLE_MS + 1);
    wait_until("idle sessions closed", || {
        metrics.sessions_closed.load(Ordering::Relaxed) == 2
    })
    .await;
    assert_eq!(sessions(), 0);

    supervisor.stop(None);
    store.close().unwrap();
}
