//! ClickHouse's `windowFunnel(window)(ts, cond1, .., condN)` in its default mode.
//!
//! Each row adds one event `(ts, i)` for every condition `i` (1-based) it satisfies. Events are
//! sorted by `(ts, i)`. Walking them in order, an event of step 1 starts a chain at its time; an
//! event of step `i > 1` extends the chain that reached step `i - 1` if it happened no later than
//! that chain's first event plus `window`. The result is the highest step any chain reached
//! (0 when no event satisfied the first condition).

/// Events of one group: (timestamp, 1-based step).
pub(crate) type FunnelEvents = Vec<(i64, u8)>;

pub(crate) fn funnel_level(events: &mut FunnelEvents, steps: usize, window: i64) -> i64 {
    events.sort_unstable();
    // For each step, the first timestamp of the chain that reached it.
    let mut reached: Vec<Option<i64>> = vec![None; steps];
    for &(ts, step) in events.iter() {
        let i = usize::from(step) - 1;
        if i == 0 {
            reached[0] = Some(ts);
        } else if let Some(first) = reached[i - 1] {
            if ts <= first.saturating_add(window) {
                reached[i] = Some(first);
                if i + 1 == steps {
                    return steps as i64;
                }
            }
        }
    }
    reached
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |i| i as i64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_in_order_within_window() {
        let mut e = vec![(10, 1), (20, 2), (30, 3)];
        assert_eq!(funnel_level(&mut e, 3, 100), 3);
        let mut e = vec![(10, 1), (20, 2), (200, 3)];
        assert_eq!(funnel_level(&mut e, 3, 100), 2);
        let mut e = vec![(10, 2), (20, 3)];
        assert_eq!(funnel_level(&mut e, 3, 100), 0);
    }

    #[test]
    fn order_matters_and_restarts_count() {
        // Step 2 before step 1 does not count.
        let mut e = vec![(5, 2), (10, 1)];
        assert_eq!(funnel_level(&mut e, 2, 100), 1);
        // A later step-1 event restarts the chain: 1@0, 1@150, 2@200 (window 100).
        let mut e = vec![(0, 1), (150, 1), (200, 2)];
        assert_eq!(funnel_level(&mut e, 2, 100), 2);
        // The window is inclusive.
        let mut e = vec![(0, 1), (100, 2)];
        assert_eq!(funnel_level(&mut e, 2, 100), 2);
        // One row meeting two conditions at once advances two steps.
        let mut e = vec![(0, 2), (0, 1)];
        assert_eq!(funnel_level(&mut e, 2, 0), 2);
    }
}
