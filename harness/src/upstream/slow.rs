//! `slow`: delay before the headers, or stall in the middle of the body.

use super::{tagged, Behaviour, MockContext, MockResponse};
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::Request;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Waits `delay`, then answers like `then`.
pub struct Slow {
    /// Delay before the response headers.
    pub delay: Duration,
    /// What to answer after the delay.
    pub then: Arc<dyn Behaviour>,
}

#[async_trait]
impl Behaviour for Slow {
    async fn respond(&self, req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        tokio::time::sleep(self.delay).await;
        self.then.respond(req, ctx).await
    }
}

/// Sends 200 with a `Content-Length` of `first.len() + rest`, writes
/// `first`, then stalls for `stall` before sending the rest.
pub struct StallBody {
    /// Bytes sent at once.
    pub first: String,
    /// Bytes promised after the stall.
    pub rest: usize,
    /// How long the body stalls.
    pub stall: Duration,
}

#[async_trait]
impl Behaviour for StallBody {
    async fn respond(&self, _req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(2);
        let first = Bytes::from(self.first.clone());
        let (rest, stall) = (self.rest, self.stall);
        tokio::spawn(async move {
            if tx.send(Ok(Frame::data(first))).await.is_err() {
                return;
            }
            tokio::time::sleep(stall).await;
            let _ = tx
                .send(Ok(Frame::data(Bytes::from(vec![b'x'; rest]))))
                .await;
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let mut resp = tagged(&ctx.name, 200, StreamBody::new(stream).boxed());
        let len = self.first.len() + self.rest;
        resp.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
        resp
    }
}
