//! The missed pods known from a watch, kept in step with its events (pure). Memory: one small entry
//! (names only) per *missed* pod, whatever the number of pods in the cluster; the watch itself
//! lists in pages.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::Missed;

/// The missed pods by uid, the relist being built, and which pods were reported already.
#[derive(Debug, Default)]
pub struct Tracker {
    current: BTreeMap<String, Missed>,
    relist: Option<BTreeMap<String, Missed>>,
    reported: HashSet<String>,
    namespaces: BTreeSet<String>,
}

impl Tracker {
    /// A (re)list starts: the pods it yields replace the current set when it is done.
    pub fn init(&mut self) {
        self.relist = Some(BTreeMap::new());
    }

    /// One pod of the (re)list, missed or not.
    pub fn init_apply(&mut self, uid: &str, missed: Option<Missed>) {
        if let (Some(relist), Some(missed)) = (self.relist.as_mut(), missed) {
            relist.insert(uid.to_owned(), missed);
        }
    }

    /// The (re)list is complete: it becomes the current set. Returns the pods not reported yet
    /// (and marks them reported); a pod reported before keeps its report.
    pub fn init_done(&mut self) -> Vec<Missed> {
        if let Some(relist) = self.relist.take() {
            self.current = relist;
        }
        self.namespaces
            .extend(self.current.values().map(|m| m.namespace.clone()));
        self.reported.retain(|uid| self.current.contains_key(uid));
        self.unreported()
    }

    /// A pod was added or changed.
    pub fn apply(&mut self, uid: &str, missed: Option<Missed>) -> Option<Missed> {
        match missed {
            Some(missed) => {
                self.namespaces.insert(missed.namespace.clone());
                self.current.insert(uid.to_owned(), missed.clone());
                self.reported.insert(uid.to_owned()).then_some(missed)
            }
            None => {
                self.delete(uid);
                None
            }
        }
    }

    /// A pod is gone (or no longer missed).
    pub fn delete(&mut self, uid: &str) {
        self.current.remove(uid);
        self.reported.remove(uid);
    }

    /// A report failed: try again at the next relist.
    pub fn unreport(&mut self, uid: &str) {
        self.reported.remove(uid);
    }

    fn unreported(&mut self) -> Vec<Missed> {
        let mut fresh: Vec<Missed> = self
            .current
            .iter()
            .filter(|(uid, _)| !self.reported.contains(*uid))
            .map(|(_, m)| m.clone())
            .collect();
        fresh.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        self.reported.extend(self.current.keys().cloned());
        fresh
    }

    /// Missed pods per namespace, with every namespace that had one since the last [`Tracker::clear`]
    /// (at 0 when none is left, so the metric goes back to 0 rather than vanishing).
    pub fn counts(&self) -> BTreeMap<String, i64> {
        let mut counts: BTreeMap<String, i64> = self.namespaces.iter().map(|ns| (ns.clone(), 0)).collect();
        for missed in self.current.values() {
            *counts.entry(missed.namespace.clone()).or_default() += 1;
        }
        counts
    }

    /// Forgets everything but the reports (leadership lost): the next leader term starts afresh.
    pub fn clear(&mut self) {
        self.current.clear();
        self.relist = None;
        self.namespaces.clear();
    }

    /// The missed pods now.
    pub fn missed(&self) -> impl Iterator<Item = &Missed> {
        self.current.values()
    }
}
