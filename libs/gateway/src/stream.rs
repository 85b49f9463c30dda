//! gRPC message framing, and a server stream as newline-delimited JSON or server-sent events.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http_body::Frame;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use tonic::{Code, body::Body};

use crate::status::GrpcOutcome;

/// A message in the gRPC wire framing: uncompressed, its length first.
pub fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    framed.extend_from_slice(message);
    framed.freeze()
}

/// Reads gRPC messages out of the bytes of a response body as they arrive.
#[derive(Debug, Default)]
pub struct Frames {
    buffer: BytesMut,
}

impl Frames {
    pub fn push(&mut self, data: Bytes) {
        self.buffer.extend_from_slice(&data);
    }

    /// The next whole message, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, GrpcOutcome> {
        if self.buffer.len() < 5 {
            return Ok(None);
        }
        if self.buffer[0] != 0 {
            // The gateway asks for no compression (it sends no grpc-accept-encoding).
            return Err(GrpcOutcome::new(
                Code::Internal,
                "the service answered with a compressed message",
            ));
        }
        let length = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if self.buffer.len() < 5 + length {
            return Ok(None);
        }
        self.buffer.advance(5);
        Ok(Some(self.buffer.split_to(length).freeze()))
    }
}

/// How a server stream is written over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    /// `application/x-ndjson`: a line `{"result": …}` per message, and a last line
    /// `{"error": <google.rpc.Status>}` when the stream ends in an error.
    JsonLines,
    /// `text/event-stream`: an event `data: …` per message, and an `event: error` last when the
    /// stream ends in an error (what a browser's `EventSource` reads).
    ServerSentEvents,
}

impl StreamFormat {
    /// Server-sent events when the caller accepts them, JSON lines otherwise.
    pub fn accepted_by(headers: &http::HeaderMap) -> Self {
        let sse = headers
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/event-stream"));
        if sse {
            Self::ServerSentEvents
        } else {
            Self::JsonLines
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::JsonLines => "application/x-ndjson",
            Self::ServerSentEvents => "text/event-stream",
        }
    }
}

/// A gRPC server stream's body, rewritten message by message as JSON.
#[derive(Debug)]
pub struct JsonStream {
    inner: Body,
    frames: Frames,
    output: MessageDescriptor,
    pool: DescriptorPool,
    format: StreamFormat,
    finished: bool,
}

impl JsonStream {
    pub fn new(
        inner: Body,
        output: MessageDescriptor,
        pool: DescriptorPool,
        format: StreamFormat,
    ) -> Self {
        Self {
            inner,
            frames: Frames::default(),
            output,
            pool,
            format,
            finished: false,
        }
    }

    fn message_chunk(&self, message: Bytes) -> Result<Bytes, GrpcOutcome> {
        let message = DynamicMessage::decode(self.output.clone(), message).map_err(|error| {
            GrpcOutcome::new(
                Code::Internal,
                format!("a streamed message does not decode: {error}"),
            )
        })?;
        let json = serde_json::to_value(&message)
            .map_err(|error| GrpcOutcome::new(Code::Internal, error.to_string()))?;
        Ok(match self.format {
            StreamFormat::JsonLines => line(&serde_json::json!({ "result": json })),
            StreamFormat::ServerSentEvents => Bytes::from(format!("data: {json}\n\n")),
        })
    }

    fn error_chunk(&mut self, outcome: &GrpcOutcome) -> Bytes {
        self.finished = true;
        self.frames = Frames::default();
        let status = outcome.to_json(&self.pool);
        match self.format {
            StreamFormat::JsonLines => line(&serde_json::json!({ "error": status })),
            StreamFormat::ServerSentEvents => {
                Bytes::from(format!("event: error\ndata: {status}\n\n"))
            }
        }
    }
}

fn line(value: &serde_json::Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

impl http_body::Body for JsonStream {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            match this.frames.next_message() {
                Ok(Some(message)) => {
                    let chunk = match this.message_chunk(message) {
                        Ok(chunk) => chunk,
                        Err(outcome) => this.error_chunk(&outcome),
                    };
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                Ok(None) => {}
                Err(outcome) => {
                    let chunk = this.error_chunk(&outcome);
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.frames.push(data),
                    Err(frame) => {
                        let outcome = frame
                            .into_trailers()
                            .ok()
                            .and_then(|trailers| GrpcOutcome::from_headers(&trailers));
                        this.finished = true;
                        if let Some(outcome) = outcome.filter(|o| o.code != Code::Ok) {
                            let chunk = this.error_chunk(&outcome);
                            return Poll::Ready(Some(Ok(Frame::data(chunk))));
                        }
                    }
                },
                Some(Err(error)) => {
                    let chunk = this.error_chunk(&GrpcOutcome::from(error));
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                None => this.finished = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_whole_however_the_bytes_arrive() {
        let mut frames = Frames::default();
        let both = [frame(b"first"), frame(b"second!")].concat();
        for byte in &both[..7] {
            frames.push(Bytes::copy_from_slice(&[*byte]));
        }
        assert_eq!(frames.next_message().expect("framing"), None);
        frames.push(Bytes::copy_from_slice(&both[7..]));
        assert_eq!(
            frames.next_message().expect("framing"),
            Some(Bytes::from_static(b"first"))
        );
        assert_eq!(
            frames.next_message().expect("framing"),
            Some(Bytes::from_static(b"second!"))
        );
        assert_eq!(frames.next_message().expect("framing"), None);
    }

    #[test]
    fn a_compressed_message_is_an_error() {
        let mut frames = Frames::default();
        frames.push(Bytes::from_static(&[1, 0, 0, 0, 1, 7]));
        assert!(frames.next_message().is_err());
    }
}
