//! Fault injection for tests, behind the `failpoints` cargo feature.
//!
//! Store code calls [`check`] at named points (`wal::write`, `wal::fsync`, `segment::write`,
//! `manifest::write`). Without the feature `check` is an inlined `Ok(())`; with it, a test arms a
//! point with [`set`] so the next calls fail with the chosen error, as the real system call would.
//! The registry is process-wide: tests that arm points must not run concurrently with each other.

use std::io;

/// Failpoint names used by the store.
pub const WAL_WRITE: &str = "wal::write";
pub const WAL_FSYNC: &str = "wal::fsync";
pub const SEGMENT_WRITE: &str = "segment::write";
pub const MANIFEST_WRITE: &str = "manifest::write";

/// What an armed failpoint does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailAction {
    /// Fail with ENOSPC ("no space left on device").
    DiskFull,
    /// Fail with EIO.
    IoError,
}

impl FailAction {
    fn error(self) -> io::Error {
        match self {
            FailAction::DiskFull => io::Error::from_raw_os_error(28),
            FailAction::IoError => io::Error::from_raw_os_error(5),
        }
    }
}

#[cfg(feature = "failpoints")]
mod registry {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use parking_lot::Mutex;

    use super::FailAction;

    /// Armed points: action and how many more calls fail (`None` = until cleared).
    pub(super) type Points = Mutex<HashMap<String, (FailAction, Option<u64>)>>;

    pub(super) fn points() -> &'static Points {
        static POINTS: OnceLock<Points> = OnceLock::new();
        POINTS.get_or_init(|| Mutex::new(HashMap::new()))
    }
}

/// Arms `name`: the next `times` calls (all calls until [`clear`] when `None`) fail with `action`.
#[cfg(feature = "failpoints")]
pub fn set(name: &str, action: FailAction, times: Option<u64>) {
    registry::points()
        .lock()
        .insert(name.to_string(), (action, times));
}

/// Disarms `name`.
#[cfg(feature = "failpoints")]
pub fn clear(name: &str) {
    registry::points().lock().remove(name);
}

/// Disarms every point.
#[cfg(feature = "failpoints")]
pub fn clear_all() {
    registry::points().lock().clear();
}

/// Returns the injected error if `name` is armed.
#[cfg(feature = "failpoints")]
pub(crate) fn check(name: &str) -> io::Result<()> {
    let mut points = registry::points().lock();
    let Some((action, times)) = points.get_mut(name) else {
        return Ok(());
    };
    let action = *action;
    match times {
        Some(0) => {
            points.remove(name);
            return Ok(());
        }
        Some(n) => *n -= 1,
        None => {}
    }
    Err(action.error())
}

/// No-op without the `failpoints` feature.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn check(_name: &str) -> io::Result<()> {
    Ok(())
}

#[cfg(not(feature = "failpoints"))]
const _: fn(FailAction) -> io::Error = FailAction::error;
