//! Re-checking a token's user against the directory (`[ldap] recheck_interval`): a user taken
//! out of `valid_gid` (or deleted) loses access within that time with the tokens they hold.
//!
//! It owns the answers: per user name, the last one and when it was had. A token's own
//! issue time counts as a "yes" (its login succeeded then), so a token younger than the
//! interval costs no directory request, and neither does a user asked less than the interval
//! ago. When the directory cannot be asked, the last answer is kept for `recheck_grace`
//! past its due time; after that the user's requests get 503 until it answers. A failed
//! attempt is not repeated for [`RETRY_AFTER_FAILURE`], so an outage does not make every
//! request wait for the directory's timeout. Memory is bounded by `capacity` names.
//!
//! No clock and no I/O of its own: the caller passes the time and the question.

use std::collections::HashMap;
use std::sync::Mutex;

use super::LoginError;

/// Seconds between attempts while the directory fails.
pub(crate) const RETRY_AFTER_FAILURE: u64 = 30;

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    /// The directory said the user is no longer in the group (or gone).
    Removed,
    /// No answer recent enough and the directory cannot be asked.
    Unknown,
}

#[derive(Debug, Clone, Copy)]
struct Answer {
    /// Unix seconds of the answer.
    at: u64,
    member: bool,
    /// Unix seconds of the last attempt that failed after `at`, if any.
    failed_at: Option<u64>,
}

/// The answers of the directory, per user name.
pub struct Rechecks {
    /// Seconds; 0 never re-checks.
    interval: u64,
    grace: u64,
    capacity: usize,
    answers: Mutex<HashMap<String, Answer>>,
}

impl Rechecks {
    pub fn new(interval: u64, grace: u64, capacity: usize) -> Rechecks {
        Rechecks {
            interval,
            grace,
            capacity: capacity.max(1),
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `user`, holding a token issued at `issued_at`, may go on at `now`; `ask`
    /// asks the directory (only when the last answer is older than the interval).
    pub(crate) fn check(
        &self,
        user: &str,
        issued_at: u64,
        now: u64,
        ask: impl FnOnce() -> Result<bool, LoginError>,
    ) -> Verdict {
        if self.interval == 0 {
            return Verdict::Allowed;
        }
        let stored = self.lock().get(user).copied();
        // A login newer than the stored answer is a newer "yes".
        let last = match stored {
            Some(a) if a.at >= issued_at => a,
            _ => Answer {
                at: issued_at,
                member: true,
                failed_at: None,
            },
        };
        let verdict = |member: bool| {
            if member {
                Verdict::Allowed
            } else {
                Verdict::Removed
            }
        };
        let due = last.at.saturating_add(self.interval);
        if now < due {
            return verdict(last.member);
        }
        let kept = |a: Answer| {
            if now < due.saturating_add(self.grace) {
                verdict(a.member)
            } else {
                Verdict::Unknown
            }
        };
        if last
            .failed_at
            .is_some_and(|t| now < t.saturating_add(RETRY_AFTER_FAILURE))
        {
            return kept(last);
        }
        match ask() {
            Ok(member) => {
                self.store(
                    user,
                    Answer {
                        at: now,
                        member,
                        failed_at: None,
                    },
                );
                verdict(member)
            }
            Err(e) => {
                log::warn!(
                    "cannot re-check user {user:?} against the directory ({e}); keeping its last answer for up to [ldap] recheck_grace"
                );
                self.store(
                    user,
                    Answer {
                        failed_at: Some(now),
                        ..last
                    },
                );
                kept(last)
            }
        }
    }

    fn store(&self, user: &str, a: Answer) {
        let mut t = self.lock();
        if t.len() >= self.capacity && !t.contains_key(user) {
            // Forget the oldest answer: that user is asked again, nothing worse.
            if let Some(oldest) = t.iter().min_by_key(|(_, a)| a.at).map(|(k, _)| k.clone()) {
                t.remove(&oldest);
            }
        }
        t.insert(user.to_string(), a);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Answer>> {
        self.answers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn asked_at_most_every_interval_and_the_last_answer_kept_for_the_grace() {
        let r = Rechecks::new(100, 50, 10);
        let asked = Cell::new(0);
        let yes = || {
            asked.set(asked.get() + 1);
            Ok(true)
        };
        // a token younger than the interval needs no question
        assert_eq!(r.check("u", 1000, 1099, yes), Verdict::Allowed);
        assert_eq!(asked.get(), 0);
        assert_eq!(r.check("u", 1000, 1100, yes), Verdict::Allowed);
        assert_eq!(r.check("u", 1000, 1150, yes), Verdict::Allowed);
        assert_eq!(asked.get(), 1);
        // removed
        assert_eq!(r.check("u", 1000, 1200, || Ok(false)), Verdict::Removed);
        assert_eq!(r.check("u", 1000, 1250, yes), Verdict::Removed, "cached");
        // a new login after the removal is a fresh yes
        assert_eq!(r.check("u", 1260, 1261, yes), Verdict::Allowed);
        // the directory down: the last answer (at 1260) holds until 1260 + 100 + 50
        let down = || Err(LoginError::Unavailable("down".into()));
        assert_eq!(r.check("u", 1260, 1360, down), Verdict::Allowed);
        assert_eq!(
            r.check("u", 1260, 1370, || panic!("not again so soon")),
            Verdict::Allowed
        );
        assert_eq!(r.check("u", 1260, 1410, down), Verdict::Unknown);
        // off
        let off = Rechecks::new(0, 0, 1);
        assert_eq!(
            off.check("u", 0, u64::MAX, || panic!("never asked")),
            Verdict::Allowed
        );
    }

    #[test]
    fn memory_is_bounded() {
        let r = Rechecks::new(1, 0, 3);
        for i in 0..10u64 {
            r.check(&format!("u{i}"), 0, 10 + i, || Ok(true));
        }
        assert_eq!(r.lock().len(), 3);
    }
}
