//! Grouped link look-ups ([`Store::find_link`]): every job of a sync reads
//! the link of its record first, so with many workers the store gets many
//! one-row reads at once. Concurrent look-ups share one query per entity
//! type and side (the `IN` list of [`Store::find_links`]) instead of taking
//! a pooled connection and a round trip each; on PostgreSQL that is most of
//! what a look-up costs. The queue and the race for the next batch are
//! `batching`'s, which never joins a query already running, so a look-up
//! sees every link committed before it was asked for. This module owns the
//! grouping of a batch, its answers and the counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::batching::{Batcher, Reply};
use crate::{FIND_LINKS_CHUNK, Link, Store, StoreError, System};

/// The callers of one batch asking about one entity type and side: each
/// record id asked for, with where its answer goes.
type AskedOnOneSide = Vec<(String, Reply<Option<Link>>)>;

/// One caller's question: the link holding `record_id` on `side`.
pub(crate) struct LinkLookup {
    entity_type: String,
    side: System,
    record_id: String,
}

/// What grouped look-ups did since the store was opened (this handle and
/// its clones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkLookupStats {
    /// Calls of [`Store::find_link`].
    pub lookups: u64,
    /// Queries run for them.
    pub queries: u64,
}

/// The look-ups waiting for the next batch, and what the batches did.
pub(crate) struct LinkLookups {
    batcher: Batcher<LinkLookup, Option<Link>>,
    lookups: AtomicU64,
    queries: AtomicU64,
}

impl Default for LinkLookups {
    fn default() -> Self {
        LinkLookups {
            batcher: Batcher::new(FIND_LINKS_CHUNK, || StoreError::ReadInterrupted),
            lookups: AtomicU64::default(),
            queries: AtomicU64::default(),
        }
    }
}

impl Store {
    /// The link holding `record_id` on `side`. Concurrent calls share a
    /// query (see [`Store::link_lookup_stats`]).
    pub async fn find_link(
        &self,
        entity_type: &str,
        side: System,
        record_id: &str,
    ) -> Result<Option<Link>, StoreError> {
        let lookups = &self.inner.link_lookups;
        lookups.lookups.fetch_add(1, Ordering::Relaxed);
        let lookup = LinkLookup {
            entity_type: entity_type.to_string(),
            side,
            record_id: record_id.to_string(),
        };
        lookups
            .batcher
            .submit(lookup, |batch| {
                let store = self.clone();
                async move { store.answer_lookups(batch).await }
            })
            .await
    }

    /// What grouped look-ups did since this store was opened (see
    /// [`LinkLookupStats`]).
    pub fn link_lookup_stats(&self) -> LinkLookupStats {
        let lookups = &self.inner.link_lookups;
        LinkLookupStats {
            lookups: lookups.lookups.load(Ordering::Relaxed),
            queries: lookups.queries.load(Ordering::Relaxed),
        }
    }

    /// Answers a batch of look-ups with one query per entity type and side;
    /// a group whose query fails is asked again look-up by look-up, so each
    /// caller gets an error of its own.
    async fn answer_lookups(&self, batch: Vec<(LinkLookup, Reply<Option<Link>>)>) {
        let mut groups: HashMap<(String, System), AskedOnOneSide> = HashMap::new();
        for (lookup, reply) in batch {
            groups
                .entry((lookup.entity_type, lookup.side))
                .or_default()
                .push((lookup.record_id, reply));
        }
        for ((entity_type, side), asked) in groups {
            let ids: Vec<&str> = asked.iter().map(|(id, _)| id.as_str()).collect();
            self.count_lookup_queries(ids.len());
            match self.find_links(&entity_type, side, &ids).await {
                Ok(found) => {
                    let by_id: HashMap<String, Link> = found
                        .into_iter()
                        .map(|link| (side_id(&link, side).to_string(), link))
                        .collect();
                    for (id, reply) in asked {
                        // Two callers may ask for the same record; each gets it.
                        let _ = reply.send(Ok(by_id.get(&id).cloned()));
                    }
                }
                Err(_) => {
                    for (id, reply) in asked {
                        self.count_lookup_queries(1);
                        let answer = self
                            .find_links(&entity_type, side, &[id.as_str()])
                            .await
                            .map(|mut found| found.pop());
                        let _ = reply.send(answer);
                    }
                }
            }
        }
    }

    fn count_lookup_queries(&self, ids: usize) {
        let queries = ids.div_ceil(FIND_LINKS_CHUNK).max(1);
        self.inner.link_lookups.queries.fetch_add(
            u64::try_from(queries).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// The id `link` holds on `side`.
fn side_id(link: &Link, side: System) -> &str {
    match side {
        System::HighLevel => &link.highlevel_id,
        System::AccessAlly => &link.accessally_id,
    }
}
