//! The object store, with a count of the requests made through it.
//!
//! Counted as S3 bills and rate-limits them: one per GET, PUT or DELETE, and one per page of a
//! listing. S3 answers `ListObjectsV2` 1,000 keys a page (object_store asks for no other page
//! size), so listing 20,000 keys is 20 requests, however the backend at hand (a local
//! directory, say) serves it. The lookup's count is what `ReuseCounts::lookup_requests` and
//! `ticketflow_embedder_vector_lookup_requests_total` report.

use bytes::Bytes;
use ticketflow_connectors::store::{Expected, ObjectVersion, Store, StoreError};

/// Keys S3 returns per listing page.
pub(crate) const LIST_PAGE: usize = 1000;

/// The requests an S3 listing of `keys` keys takes (an empty listing is still one).
pub(crate) fn list_pages(keys: usize) -> u64 {
    keys.div_ceil(LIST_PAGE).max(1) as u64
}

/// A [`Store`] that counts what it is asked.
pub(crate) struct Counted<'a> {
    store: &'a Store,
    pub requests: u64,
}

impl<'a> Counted<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store, requests: 0 }
    }

    /// The store itself, for requests counted elsewhere and added in.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The requests counted so far, and the count restarted.
    pub fn take(&mut self) -> u64 {
        std::mem::take(&mut self.requests)
    }

    /// The object, or `None` when there is none.
    pub async fn get(&mut self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.requests += 1;
        match self.store.get(key).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn get_versioned(
        &mut self,
        key: &str,
    ) -> Result<Option<(Bytes, ObjectVersion)>, StoreError> {
        self.requests += 1;
        self.store.get_versioned(key).await
    }

    pub async fn list(&mut self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let keys = self.store.list(prefix).await?;
        self.requests += list_pages(keys.len());
        Ok(keys)
    }

    pub async fn put(&mut self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.requests += 1;
        self.store.put(key, bytes).await
    }

    pub async fn put_if(
        &mut self,
        key: &str,
        bytes: Bytes,
        expected: &Expected,
    ) -> Result<(), StoreError> {
        self.requests += 1;
        self.store.put_if(key, bytes, expected).await
    }

    pub async fn delete(&mut self, key: &str) -> Result<(), StoreError> {
        self.requests += 1;
        self.store.delete(key).await
    }
}
