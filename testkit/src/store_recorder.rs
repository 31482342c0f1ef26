//! A recording layer for an object store: every request passes through to the real backend
//! and is logged in order, so a test can see *how* code talks to the store (one `put` or parts
//! as it goes; how many requests at once), not only what ends up there. Install it with
//! `Store::layered(|inner| Recorder::new(inner, &log).into_dyn())`.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

/// One request the store received, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Get(String),
    /// A whole object in one request, and its size.
    Put(String, usize),
    StartUpload(String),
    /// One part of an upload, and its size.
    Part(usize),
    Complete,
}

/// What the recorder saw: the requests in order, and the most `put`s that were in flight at
/// once.
#[derive(Debug, Default)]
pub struct StoreLog {
    requests: Mutex<Vec<Request>>,
    puts_in_flight: AtomicUsize,
    most_puts_in_flight: AtomicUsize,
}

impl StoreLog {
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("store log").clone()
    }

    /// The largest number of whole-object `put`s that were running at the same moment.
    pub fn most_puts_in_flight(&self) -> usize {
        self.most_puts_in_flight.load(Ordering::SeqCst)
    }

    fn record(&self, request: Request) {
        self.requests.lock().expect("store log").push(request);
    }
}

/// Passes every request to the real backend and logs it in a [`StoreLog`].
#[derive(Debug)]
pub struct Recorder {
    inner: Arc<dyn ObjectStore>,
    log: Arc<StoreLog>,
    /// Added to every `put`, so that concurrent puts overlap measurably.
    put_delay: Duration,
}

impl Recorder {
    pub fn new(inner: Arc<dyn ObjectStore>, log: &Arc<StoreLog>) -> Self {
        Recorder {
            inner,
            log: log.clone(),
            put_delay: Duration::ZERO,
        }
    }

    /// Every `put` takes at least `delay` (a slow network, stood in for).
    pub fn with_put_delay(mut self, delay: Duration) -> Self {
        self.put_delay = delay;
        self
    }

    pub fn into_dyn(self) -> Arc<dyn ObjectStore> {
        Arc::new(self)
    }
}

impl fmt::Display for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recorder({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Recorder {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.log
            .record(Request::Put(location.to_string(), payload.content_length()));
        let now = self.log.puts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.log
            .most_puts_in_flight
            .fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.put_delay).await;
        let result = self.inner.put_opts(location, payload, opts).await;
        self.log.puts_in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.log.record(Request::StartUpload(location.to_string()));
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(RecordedUpload {
            inner,
            log: self.log.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.log.record(Request::Get(location.to_string()));
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct RecordedUpload {
    inner: Box<dyn MultipartUpload>,
    log: Arc<StoreLog>,
}

#[async_trait]
impl MultipartUpload for RecordedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.log.record(Request::Part(data.content_length()));
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.log.record(Request::Complete);
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}
