//! Connection budgets: short calls and long-lived waits are counted apart, so that waiters
//! never starve starts and gets.
//!
//! A connection is classed by what it asks, not when it is accepted. Its first call of
//! `wait` or `watch` (the methods that hold a connection until a task ends) puts it in the
//! *waiter* budget (`max_waiter_connections`); its first other call puts it in the *short*
//! budget (`max_connections`), and a short connection that goes on to wait moves to the
//! waiter budget, giving its short slot back. A waiter connection stays one until it
//! closes. A connection that has asked nothing yet holds no slot of either budget; all
//! connections together are capped at the sum of both (the accept-time limit), so idle
//! sockets cannot pile up either. When a budget is spent, the call that needed a slot is
//! answered with a typed `overloaded` error naming the budget (with its own id), and the
//! connection stays open for the peer to read it.
//!
//! The waiter budget is as large as the file-descriptor limit allows: the daemon raises its
//! soft `RLIMIT_NOFILE` to the hard limit at start-up ([`raise_fd_limit`]) and sizes the
//! waiter budget to what is left after the short budget and a reserve for runs and the
//! registry ([`waiter_budget_for`]).

use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Methods that hold their connection until a task ends.
const LONG_LIVED: [&str; 2] = ["codexd_wait", "codexd_watch"];

/// File descriptors kept out of the connection budgets: the registry, run logs and pipes,
/// the listener, accepted sockets still unclassified.
pub const FD_RESERVE: u64 = 1024;

/// Which budget a call draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Budget {
    /// Calls answered promptly (everything but `wait` and `watch`).
    Short,
    /// Calls held until a task ends.
    Waiter,
}

impl Budget {
    /// The budget `method` draws on.
    pub(super) fn of(method: &str) -> Budget {
        if LONG_LIVED.contains(&method) {
            Budget::Waiter
        } else {
            Budget::Short
        }
    }
}

/// The two budgets, shared by every connection.
#[derive(Clone)]
pub(super) struct Budgets {
    /// Slots of short connections.
    short: Arc<Semaphore>,
    /// Slots of waiter connections.
    waiter: Arc<Semaphore>,
    /// Size of the short budget (for messages).
    short_limit: usize,
    /// Size of the waiter budget (for messages).
    waiter_limit: usize,
}

impl Budgets {
    /// Budgets of `short` and `waiter` connections.
    pub(super) fn new(short: usize, waiter: usize) -> Self {
        Budgets {
            short: Arc::new(Semaphore::new(short)),
            waiter: Arc::new(Semaphore::new(waiter)),
            short_limit: short,
            waiter_limit: waiter,
        }
    }

    /// A slot holder for a newly accepted connection (holding nothing yet).
    pub(super) fn slot(&self) -> Slot {
        Slot {
            budgets: self.clone(),
            held: Mutex::new(None),
        }
    }
}

/// What one connection holds of the budgets.
pub(super) struct Slot {
    /// The budgets it draws on.
    budgets: Budgets,
    /// The slot held, and of which budget.
    held: Mutex<Option<(Budget, OwnedSemaphorePermit)>>,
}

impl Slot {
    /// The held slot. Every change is one assignment, so a poisoned lock is taken as is.
    fn lock(&self) -> MutexGuard<'_, Option<(Budget, OwnedSemaphorePermit)>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes sure the connection holds a slot fit for calling `method`: nothing to do when
    /// it holds a waiter slot, or a short slot for a short call; a wait moves a short
    /// connection to the waiter budget when there is room (else it stays short). `Err`
    /// holds the message of the `overloaded` error when no slot could be had.
    pub(super) fn admit(&self, method: &str) -> Result<(), String> {
        let wanted = Budget::of(method);
        let mut held = self.lock();
        match (held.as_ref().map(|(budget, _)| *budget), wanted) {
            (Some(Budget::Waiter), _) | (Some(Budget::Short), Budget::Short) => Ok(()),
            (Some(Budget::Short), Budget::Waiter) => {
                if let Ok(permit) = self.budgets.waiter.clone().try_acquire_owned() {
                    *held = Some((Budget::Waiter, permit));
                }
                Ok(())
            }
            (None, budget) => {
                let (semaphore, limit, what) = match budget {
                    Budget::Short => (&self.budgets.short, self.budgets.short_limit, "short"),
                    Budget::Waiter => (&self.budgets.waiter, self.budgets.waiter_limit, "waiter"),
                };
                match semaphore.clone().try_acquire_owned() {
                    Ok(permit) => {
                        *held = Some((budget, permit));
                        Ok(())
                    }
                    Err(_) => Err(format!(
                        "codexd is overloaded: it already serves {limit} {what} connections \
                         (its limit); try again shortly"
                    )),
                }
            }
        }
    }

    /// The budget this connection is counted in, if any yet.
    #[cfg(test)]
    pub(super) fn budget(&self) -> Option<Budget> {
        self.lock().as_ref().map(|(budget, _)| *budget)
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit in force
/// afterwards (the old one if it could not be raised).
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = limit.rlim_cur,
                to = raised.rlim_cur,
                "raised the open-file limit"
            );
            return raised.rlim_cur;
        }
        tracing::warn!(
            soft = limit.rlim_cur,
            hard = limit.rlim_max,
            "cannot raise the open-file limit; waiter connections are bounded by it"
        );
    }
    limit.rlim_cur
}

/// The waiter budget that fits `fd_limit` open files beside `short` short connections and
/// the reserve: at most `wanted`, at least 64.
pub fn waiter_budget_for(fd_limit: u64, short: usize, wanted: usize) -> usize {
    let room = fd_limit
        .saturating_sub(short as u64)
        .saturating_sub(FD_RESERVE);
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(64, wanted.max(64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_and_short_calls_draw_on_their_own_budgets() {
        let budgets = Budgets::new(1, 2);
        let waiters: Vec<Slot> = (0..2).map(|_| budgets.slot()).collect();
        for w in &waiters {
            w.admit("codexd_wait").unwrap();
            assert_eq!(w.budget(), Some(Budget::Waiter));
        }
        // The waiter budget is spent; a short call still gets its slot.
        let short = budgets.slot();
        short.admit("codexd_start").unwrap();
        assert_eq!(short.budget(), Some(Budget::Short));
        // A waiter may make short calls on its connection without another slot.
        waiters[0].admit("codexd_get").unwrap();
        // The short budget is spent: the next short connection is told so.
        let refused = budgets.slot();
        let message = refused.admit("codexd_get").unwrap_err();
        assert!(message.contains("1 short connections"), "{message}");
        assert!(budgets.slot().admit("codexd_watch").is_err());
        drop(short);
        refused.admit("codexd_get").unwrap();
    }

    #[test]
    fn a_short_connection_that_waits_moves_to_the_waiter_budget() {
        let budgets = Budgets::new(1, 1);
        let slot = budgets.slot();
        slot.admit("codexd_get").unwrap();
        slot.admit("codexd_watch").unwrap();
        assert_eq!(slot.budget(), Some(Budget::Waiter));
        // Its short slot went back.
        budgets.slot().admit("codexd_start").unwrap();
        // With the waiter budget spent, a short connection that waits stays short.
        let other = Budgets::new(1, 0).slot();
        other.admit("codexd_get").unwrap();
        other.admit("codexd_wait").unwrap();
        assert_eq!(other.budget(), Some(Budget::Short));
    }

    #[test]
    fn the_waiter_budget_fits_the_fd_limit() {
        assert_eq!(waiter_budget_for(1_048_576, 1024, 16_384), 16_384);
        assert_eq!(waiter_budget_for(4096, 1024, 16_384), 2048);
        assert_eq!(waiter_budget_for(1024, 1024, 16_384), 64);
    }
}
