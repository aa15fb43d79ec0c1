//! The event queue: what each kommune and the national side do next, ordered by (virtual
//! instant, sequence number) so that events at the same instant keep the order they were
//! scheduled in.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of file a submission carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Kind {
    /// The test submission (the previous year's data).
    Test,
    /// The ordinary submission (or a rejected one sent again).
    Ordinary,
    /// The corrections (or, after a rejection, the fixed file).
    Correction,
}

impl Kind {
    /// The report phase a submission of this kind belongs to.
    pub(crate) fn phase(self) -> &'static str {
        match self {
            Kind::Test => "test_submission",
            Kind::Ordinary => "ordinary_submission",
            Kind::Correction => "corrections",
        }
    }

    /// The kind's word in the timeline and in file names.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Test => "test",
            Kind::Ordinary => "ordinary",
            Kind::Correction => "correction",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Ev {
    /// SSB sends the receipts owed (08:00 every working day).
    SendReceipts,
    /// SSB publishes feedback zips (`true`: test feedback).
    PublishFeedback(bool),
    /// A kommune submits.
    Submit(usize, Kind),
    /// The IPLOS contact looks for the receipt of its latest ordinary arrival.
    CheckReceipt(usize),
    /// Postmottak goes through its inbox (`true`: the contact phoned, forward at once).
    Postmottak(usize, bool),
    /// The IPLOS contact reads its mail.
    ContactMail(usize),
    /// The IPLOS contact asks SSB for the feedback it has not got.
    ContactSsb(usize),
    /// The IPLOS contact retries opening the feedback zip with 7-Zip.
    RetryOpen(usize),
    /// The IPLOS contact requests a new password link after one was refused.
    RequestLink(usize),
    /// SSB publishes one kommune's feedback (`true`: test) that came after the rest.
    PublishFeedbackFor(usize, bool),
}

impl Ev {
    /// The step's name in the timing section.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Ev::SendReceipts => "national: 08:00 receipts",
            Ev::PublishFeedback(_) => "national: publish feedback",
            Ev::Submit(_, Kind::Test) => "kommune: test submission",
            Ev::Submit(_, Kind::Ordinary) => "kommune: ordinary submission",
            Ev::Submit(_, Kind::Correction) => "kommune: corrections",
            Ev::CheckReceipt(_) => "kommune: look for the receipt",
            Ev::Postmottak(..) => "kommune: postmottak forwards",
            Ev::ContactMail(_) => "kommune: contact reads mail",
            Ev::ContactSsb(_) => "kommune: contact asks SSB",
            Ev::RetryOpen(_) => "kommune: open the zip again",
            Ev::RequestLink(_) => "kommune: request a new link",
            Ev::PublishFeedbackFor(..) => "national: publish one feedback",
        }
    }
}

/// The event queue; what was pushed since the last commit is kept for the run store.
#[derive(Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Reverse<(DateTime<Utc>, u64, Ev)>>,
    seq: u64,
    pushed: Vec<(DateTime<Utc>, u64, Ev)>,
}

impl Queue {
    /// A queue as the run store saved it: its events and the last sequence number handed
    /// out (nothing is counted as pushed since the commit).
    pub(crate) fn restore(seq: u64, events: Vec<(DateTime<Utc>, u64, Ev)>) -> Queue {
        Queue {
            heap: events.into_iter().map(Reverse).collect(),
            seq,
            pushed: Vec::new(),
        }
    }

    /// Schedules `ev` at `t`, after every event already scheduled at `t`.
    pub(crate) fn push(&mut self, t: DateTime<Utc>, ev: Ev) {
        self.seq += 1;
        self.pushed.push((t, self.seq, ev.clone()));
        self.heap.push(Reverse((t, self.seq, ev)));
    }

    /// The next event: the earliest instant, and at one instant the first scheduled.
    pub(crate) fn pop(&mut self) -> Option<(DateTime<Utc>, u64, Ev)> {
        self.heap.pop().map(|Reverse(x)| x)
    }

    /// Events waiting.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The last sequence number handed out.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// What was pushed since the last call (for the run store's commit).
    pub(crate) fn take_pushed(&mut self) -> Vec<(DateTime<Utc>, u64, Ev)> {
        std::mem::take(&mut self.pushed)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2018, 1, 2, h, m, 0).unwrap()
    }

    fn drain(q: &mut Queue) -> Vec<(DateTime<Utc>, Ev)> {
        std::iter::from_fn(|| q.pop().map(|(t, _, ev)| (t, ev))).collect()
    }

    #[test]
    fn earliest_instant_first_then_order_of_scheduling() {
        let mut q = Queue::default();
        q.push(at(9, 0), Ev::ContactMail(2));
        q.push(at(7, 0), Ev::SendReceipts);
        q.push(at(9, 0), Ev::Submit(0, Kind::Ordinary));
        // Would sort before both 09:00 events by its own value; the sequence decides.
        q.push(at(9, 0), Ev::PublishFeedback(true));
        q.push(at(8, 30), Ev::CheckReceipt(1));
        assert_eq!(q.len(), 5);
        assert_eq!(
            drain(&mut q),
            vec![
                (at(7, 0), Ev::SendReceipts),
                (at(8, 30), Ev::CheckReceipt(1)),
                (at(9, 0), Ev::ContactMail(2)),
                (at(9, 0), Ev::Submit(0, Kind::Ordinary)),
                (at(9, 0), Ev::PublishFeedback(true)),
            ]
        );
        assert!(q.pop().is_none());
    }

    #[test]
    fn pushed_since_the_last_commit_is_handed_out_once() {
        let mut q = Queue::default();
        q.push(at(9, 0), Ev::ContactSsb(0));
        q.push(at(8, 0), Ev::RetryOpen(1));
        assert_eq!(
            q.take_pushed(),
            vec![
                (at(9, 0), 1, Ev::ContactSsb(0)),
                (at(8, 0), 2, Ev::RetryOpen(1))
            ]
        );
        assert!(q.take_pushed().is_empty());
        // Popping is no push.
        q.pop();
        assert!(q.take_pushed().is_empty());
        assert_eq!(q.seq(), 2);
    }

    #[test]
    fn a_restored_queue_continues_the_sequence_and_the_order() {
        let mut q = Queue::default();
        q.push(at(9, 0), Ev::ContactMail(0));
        q.push(at(9, 0), Ev::ContactMail(1));
        q.push(at(10, 0), Ev::ContactMail(2));
        let saved = q.take_pushed();
        let mut r = Queue::restore(q.seq(), saved);
        assert!(r.take_pushed().is_empty());
        // A new event at an instant already taken goes after the saved ones.
        r.push(at(9, 0), Ev::SendReceipts);
        assert_eq!(r.take_pushed(), vec![(at(9, 0), 4, Ev::SendReceipts)]);
        let order: Vec<Ev> = drain(&mut r).into_iter().map(|(_, ev)| ev).collect();
        assert_eq!(
            order,
            vec![
                Ev::ContactMail(0),
                Ev::ContactMail(1),
                Ev::SendReceipts,
                Ev::ContactMail(2),
            ]
        );
    }

    #[test]
    fn every_submission_kind_has_its_own_phase_and_label() {
        let kinds = [Kind::Test, Kind::Ordinary, Kind::Correction];
        let phases: std::collections::BTreeSet<_> = kinds.iter().map(|k| k.phase()).collect();
        let labels: std::collections::BTreeSet<_> =
            kinds.iter().map(|k| Ev::Submit(0, *k).label()).collect();
        assert_eq!(phases.len(), 3);
        assert_eq!(labels.len(), 3);
        assert_eq!(Kind::Correction.phase(), "corrections");
    }
}
