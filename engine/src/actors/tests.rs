#![expect(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ecomdash_storage::{ScanRequest, Store, StoreConfig, Table, Value};
use ractor::{Actor, ActorRef};

use super::session::SessionMsg;
use super::site::{SiteMsg, SESSION_ACTIVE_QUIET_MS};
use super::supervisor::{SiteActorSlot, SiteSpec, Supervisor, SupervisorMsg};
use super::ActorContext;
use crate::clock::ManualClock;
use crate::live::{LiveEvent, LiveStats};
use crate::metrics::Metrics;
use crate::rows::SessionColumns;
use crate::session::{SessionIndex, SessionState};

const T0: i64 = 1_767_225_600_000;
/// Short enough that the idle scan runs every other tick.
const IDLE_MS: i64 = 20_000;

struct Harness {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<ManualClock>,
    metrics: Arc<Metrics>,
    live: Arc<LiveStats>,
    slot: SiteActorSlot,
    supervisor: ActorRef<SupervisorMsg>,
}

impl Harness {
    async fn start() -> Harness {
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
        Harness {
            _dir: dir,
            store,
            clock,
            metrics,
            live,
            slot,
            supervisor,
        }
    }

    fn site(&self) -> ActorRef<SiteMsg> {
        self.slot.read().clone().unwrap()
    }

    fn sessions(&self) -> u64 {
        self.live.live_sessions.load(Ordering::Relaxed)
    }

    fn send(&self, events: Vec<LiveEvent>) {
        self.live
            .actor_backlog
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.site().cast(SiteMsg::Events(events)).unwrap();
    }

    async fn session(&self, id: &str) -> Option<(SessionState, Option<ActorRef<SessionMsg>>)> {
        ractor::call_t!(self.site(), SiteMsg::Session, 5000, Arc::from(id)).unwrap()
    }

    /// Waits until the session has no active actor.
    async fn wait_inactive(&self, id: &str) {
        for _ in 0..500 {
            if self
                .session(id)
                .await
                .is_some_and(|(_, actor)| actor.is_none())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("session {id} still active");
    }

    /// Waits until the site actor has applied everything sent so far.
    async fn settle(&self) {
        wait_until("backlog applied", || {
            self.live.actor_backlog.load(Ordering::Relaxed) == 0
        })
        .await;
    }

    /// `sessions` rows in the store: session id → (pageviews, events, revenue), and how many.
    fn rows(&self) -> (HashMap<String, (i64, i64, i64)>, usize) {
        let cols = SessionColumns::resolve().unwrap();
        let wanted = vec![cols.session_id, cols.pageviews, cols.events, cols.revenue];
        let plan = self
            .store
            .snapshot()
            .plan_scan(&ScanRequest::new(Table::Sessions, wanted));
        let mut rows = HashMap::new();
        let mut count = 0;
        for unit in &plan.units {
            let batch = unit.read().unwrap();
            let int = |c: usize, row: usize| match batch.column(c).unwrap().value(row) {
                Value::Int(v) => v,
                other => panic!("not an int: {other:?}"),
            };
            let ids = batch.column(cols.session_id).unwrap();
            for row in 0..ids.len() {
                let Value::Str(id) = ids.value(row) else {
                    panic!("no session id")
                };
                count += 1;
                rows.insert(
                    id.to_owned(),
                    (
                        int(cols.pageviews, row),
                        int(cols.events, row),
                        int(cols.revenue, row),
                    ),
                );
            }
        }
        (rows, count)
    }
}

fn event(session: &str) -> LiveEvent {
    event_at(session, T0)
}

fn event_at(session: &str, at_ms: i64) -> LiveEvent {
    LiveEvent {
        received_ms: at_ms,
        event_ms: at_ms,
        visitor_id: Arc::from("v"),
        session_id: Arc::from(session),
        is_pageview: true,
        path: Some(Arc::from("/")),
        revenue: 100,
        ..LiveEvent::default()
    }
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_actors_lose_no_session_and_idle_sessions_write_one_row_each() {
    let h = Harness::start().await;
    h.send(vec![event("a"), event("b"), event("a")]);
    h.settle().await;
    assert_eq!(h.sessions(), 2);

    // a failing SessionActor: its session is rebuilt from the entry, the other is untouched
    let (_, a) = h.session("a").await.unwrap();
    let a = a.expect("a has events, so an active actor");
    a.cast(SessionMsg::Fail).unwrap();
    h.wait_inactive("a").await;
    let (a_state, _) = h.session("a").await.unwrap();
    assert_eq!((a_state.events, a_state.pageviews), (2, 2));
    let (b_state, b_actor) = h.session("b").await.unwrap();
    assert_eq!(b_state.events, 0, "b's events are in its active actor");
    assert!(b_actor.is_some());
    // its next event activates it again
    h.send(vec![event("a")]);
    h.settle().await;
    assert!(h.session("a").await.unwrap().1.is_some());

    // a failing SiteActor is restarted by the Supervisor, with every session
    let site = h.site();
    site.cast(SiteMsg::Fail).unwrap();
    wait_until("site actor restarted", || {
        h.slot
            .read()
            .as_ref()
            .is_some_and(|s| s.get_id() != site.get_id())
    })
    .await;
    assert_eq!(h.sessions(), 2);
    let (a_state, a_actor) = h.session("a").await.unwrap();
    assert_eq!(a_state.events, 3);
    assert!(a_actor.is_none(), "ractor ended the failed site's actors");
    assert_eq!(h.session("b").await.unwrap().0.events, 1);
    h.send(vec![event("b")]);
    h.settle().await;

    // idle sessions close once the (injected) clock passes the timeout: one row each
    h.clock.advance(IDLE_MS + 1);
    wait_until("idle sessions closed", || {
        h.metrics.sessions_closed.load(Ordering::Relaxed) == 2
    })
    .await;
    assert_eq!(h.sessions(), 0);
    let (rows, count) = h.rows();
    assert_eq!(count, 2);
    assert_eq!(rows["a"], (3, 3, 300));
    assert_eq!(rows["b"], (2, 2, 200));

    h.supervisor.stop(None);
    h.store.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_sessions_give_up_their_actor_and_come_back_on_the_next_event() {
    let h = Harness::start().await;
    h.send(vec![event("s"), event("s")]);
    h.settle().await;
    let (_, first) = h.session("s").await.unwrap();
    let first = first.unwrap();

    h.clock.advance(SESSION_ACTIVE_QUIET_MS + 1);
    h.wait_inactive("s").await;
    let (state, _) = h.session("s").await.unwrap();
    assert_eq!(state.events, 2, "the actor's state is folded back");
    assert_eq!(h.sessions(), 1, "a quiet session is still live");

    let later = T0 + SESSION_ACTIVE_QUIET_MS + 1;
    h.send(vec![event_at("s", later)]);
    h.settle().await;
    let (_, second) = h.session("s").await.unwrap();
    assert!(second.is_some_and(|s| s.get_id() != first.get_id()));

    // an actor at its event cap is deactivated too, nothing lost
    let many: Vec<LiveEvent> = (0..200).map(|_| event_at("s", later)).collect();
    h.send(many);
    h.settle().await;

    // shutdown closes the active and the quiet alike, one row each
    h.send(vec![event_at("t", later)]);
    h.settle().await;
    let closed = ractor::call_t!(h.site(), SiteMsg::CloseAll, 5000).unwrap();
    assert_eq!(closed, 2);
    let (rows, count) = h.rows();
    assert_eq!(count, 2);
    assert_eq!(rows["s"], (203, 203, 20_300));
    assert_eq!(rows["t"].0, 1);

    h.supervisor.stop(None);
    h.store.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_counts_each_event_until_an_actor_has_it_however_the_actor_ends() {
    use super::table::{Next, SessionTable};

    let live = LiveStats::default();
    live.actor_backlog.store(10, Ordering::Relaxed);
    let backlog = || live.actor_backlog.load(Ordering::Relaxed);
    let mut table = SessionTable::default();
    let Some(Next::Activate(activate)) = table.accept(event("s"), &live) else {
        panic!("a new session asks for an actor")
    };
    let (actor, handle) = spawn_session(&activate).await;
    table.attach(activate, actor.clone(), &live);
    assert!(table.accept(event("s"), &live).is_none());
    assert_eq!(backlog(), 8, "two events handed to the actor");

    // the actor ends (its termination may overtake its state answer): folding it counts
    // nothing twice
    actor.stop(None);
    handle.await.unwrap();
    assert!(table.fold_activation(actor.get_id(), &live));
    assert_eq!(backlog(), 8);
    let (state, active) = table.get("s").unwrap();
    assert_eq!((state.events, active.is_none()), (2, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_active_actor_cap_the_site_actor_applies_events_itself() {
    use super::table::{Next, SessionTable};

    let live = LiveStats::default();
    live.actor_backlog.store(3, Ordering::Relaxed);
    let mut table = SessionTable::with_max_active(1);
    let Some(Next::Activate(activate)) = table.accept(event("a"), &live) else {
        panic!("under the cap a session gets an actor")
    };
    let (actor, _) = spawn_session(&activate).await;
    table.attach(activate, actor.clone(), &live);
    assert!(
        table.accept(event("b"), &live).is_none(),
        "at the cap: no actor"
    );
    assert!(table.accept(event("b"), &live).is_none());
    let (b, b_actor) = table.get("b").unwrap();
    assert_eq!((b.events, b_actor.is_none()), (2, true));
    assert_eq!(table.active_len(), 1);
    assert_eq!(live.actor_backlog.load(Ordering::Relaxed), 0);
    actor.stop(None);
}

/// The SessionActor an activation asks for, unlinked (the SiteActor links its own).
async fn spawn_session(
    activate: &super::table::Activate,
) -> (ActorRef<SessionMsg>, tokio::task::JoinHandle<()>) {
    use super::session::{SessionActor, SessionArgs};

    Actor::spawn(
        None,
        SessionActor,
        SessionArgs {
            state: activate.state.clone(),
        },
    )
    .await
    .unwrap()
}
