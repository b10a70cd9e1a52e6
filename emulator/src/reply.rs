//! Responses: status, headers and a body that can also misbehave on purpose.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// What a handler decided.
pub enum Outcome {
    /// Answer this.
    Reply(Reply),
    /// Drop the connection without answering.
    Reset,
}

/// A response about to be sent.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers (names lower-case); repeated names are sent as repeated headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Bytes,
    /// Announce more bytes than sent, then close (the `TruncatedBody` fault).
    pub truncated: bool,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            truncated: false,
        }
    }

    /// An answer with an empty body and no content type (how Okta's resource server refuses a
    /// DPoP request: everything is in `WWW-Authenticate`).
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: vec![],
            body: Bytes::new(),
            truncated: false,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// True when a header of that name is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Converts into a hyper response; invalid header names/values (only possible from a
    /// test's `Fault::Status`) are skipped rather than panicking.
    pub fn into_response(self) -> hyper::Response<RespBody> {
        let mut b = hyper::Response::builder().status(self.status);
        for (n, v) in &self.headers {
            if http::HeaderName::from_bytes(n.as_bytes()).is_ok()
                && http::HeaderValue::from_str(v).is_ok()
            {
                b = b.header(n.as_str(), v.as_str());
            }
        }
        let body = if self.truncated {
            b = b.header("content-length", (self.body.len() + 512).to_string());
            RespBody::Truncated {
                data: Some(self.body),
                sleep: None,
            }
        } else {
            RespBody::Full(Some(self.body))
        };
        b.body(body).unwrap_or_else(|_| {
            let mut r = hyper::Response::new(RespBody::Full(None));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

/// Response body.
pub enum RespBody {
    /// The whole body in one frame.
    Full(Option<Bytes>),
    /// Sends `data`, waits for it to be flushed, then fails so hyper drops the connection
    /// short of the announced Content-Length.
    Truncated {
        /// Bytes still to send.
        data: Option<Bytes>,
        /// Grace period before failing.
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            RespBody::Full(data) => Poll::Ready(data.take().map(|b| Ok(Frame::data(b)))),
            RespBody::Truncated { data, sleep } => {
                if let Some(b) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                let s = sleep.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep(Duration::from_millis(100)))
                });
                match s.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(std::io::Error::other("body truncated by fault"))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, RespBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            RespBody::Full(None) => SizeHint::with_exact(0),
            RespBody::Truncated { .. } => SizeHint::default(),
        }
    }
}
