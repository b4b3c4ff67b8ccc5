//! The member table's sort order and search index. At 100k members they take
//! a good part of the start, and only the table needs them: the runtime builds
//! them off the UI thread after each load ([`super::Effect::BuildIndex`]) while
//! the dashboard, which needs neither, is already on screen. A change of sort
//! column is made off the UI thread too ([`super::Effect::Sort`]): at 1M
//! entries even a linear pass takes a frame or more, and the orders by codice
//! fiscale and PEC are sorted only when first asked for.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::search::{Lookup, Matches, Search};
use super::table::{Sort, SortOrders};
use crate::store::RosterRows;

/// What to build an index over: the entries of one load, as they were sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRequest {
    pub(super) entries: Arc<RosterRows>,
    /// Which load the entries are; an index for an older one is dropped.
    pub(super) generation: u64,
    pub(super) sort: Sort,
    pub(super) now: DateTime<Utc>,
}

/// Entry indices in a sort order, and each entry's rank in it.
#[derive(Debug, Clone, Default)]
pub(super) struct Ordering {
    pub(super) order: Vec<u32>,
    pub(super) rank: Vec<u32>,
}

impl Ordering {
    /// The order of `sort`, from the load's orders: a linear pass, or the
    /// first sort by codice fiscale or PEC of this load.
    pub(super) fn of(
        entries: &RosterRows,
        orders: &SortOrders,
        sort: Sort,
        now: DateTime<Utc>,
    ) -> Self {
        let order = orders.ordered(entries, sort, now);
        let mut rank = vec![0; entries.len()];
        for (position, &index) in order.iter().enumerate() {
            rank[index as usize] = position as u32;
        }
        Self { order, rank }
    }
}

/// The sort order and search index of one load.
#[derive(Debug, Clone)]
pub struct TableIndex {
    pub(super) generation: u64,
    pub(super) sort: Sort,
    /// Shared with the searches under way, which rank their matches in it.
    pub(super) ordering: Arc<Ordering>,
    /// Every column's order is derived from these without sorting again.
    pub(super) orders: Arc<SortOrders>,
    pub(super) search: Search,
}

impl TableIndex {
    /// Sorts and indexes side by side: two independent passes over the roster.
    pub fn build(request: &IndexRequest) -> Self {
        crate::memory::give_back_large_buffers();
        let entries = request.entries.as_ref();
        let (search, orders) = std::thread::scope(|scope| {
            let search = scope.spawn(|| Search::new(entries));
            let orders = SortOrders::build(entries);
            (search.join().expect("indexing does not panic"), orders)
        });
        Self {
            generation: request.generation,
            sort: request.sort,
            ordering: Arc::new(Ordering::of(entries, &orders, request.sort, request.now)),
            orders: Arc::new(orders),
            search,
        }
    }

    /// The remembered matches of a search, or the scan that finds them and
    /// ranks them in the table's order ([`Search::lookup`]).
    pub(super) fn lookup(&mut self, query: &str) -> Lookup {
        self.search.lookup_in(query, Some(&self.ordering))
    }

    /// The matches of a search, remembered or found now on this thread.
    pub(super) fn matched(&mut self, query: &str) -> Matches {
        self.search.matched(query, Some(&self.ordering))
    }
}

/// A change of sort (or of the clock, for the password column) to derive
/// off the UI thread from a load's prepared orders.
#[derive(Debug, Clone)]
pub struct SortRequest {
    pub(super) entries: Arc<RosterRows>,
    pub(super) orders: Arc<SortOrders>,
    pub(super) generation: u64,
    pub(super) sort: Sort,
    pub(super) now: DateTime<Utc>,
}

impl PartialEq for SortRequest {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.entries, &other.entries)
            && Arc::ptr_eq(&self.orders, &other.orders)
            && (self.generation, self.sort, self.now) == (other.generation, other.sort, other.now)
    }
}

impl Eq for SortRequest {}

/// The order a [`SortRequest`] asked for.
#[derive(Debug, Clone)]
pub struct Sorted {
    pub(super) generation: u64,
    pub(super) sort: Sort,
    pub(super) ordering: Arc<Ordering>,
}

impl SortRequest {
    /// The linear pass, on whichever thread the runtime runs it.
    pub fn run(&self) -> Sorted {
        Sorted {
            generation: self.generation,
            sort: self.sort,
            ordering: Arc::new(Ordering::of(
                &self.entries,
                &self.orders,
                self.sort,
                self.now,
            )),
        }
    }
}
