//! Calls any RPC by its path with the request already encoded: the bad-input and authorization
//! scenarios go over every method of the descriptor set without a typed client for each.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use tonic::{
    Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

/// Passes bytes through as the message: the caller writes the wire format itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

#[derive(Clone, Copy, Debug, Default)]
pub struct RawBytes;

impl Encoder for RawBytes {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawBytes {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawBytes;
    type Decoder = RawBytes;
    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }
    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

/// A method of the descriptor set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Method {
    /// `/package.Service/Method`.
    pub path: String,
    /// `package.Service`.
    pub service: String,
    pub server_streaming: bool,
    pub client_streaming: bool,
}

/// Every method of every service the platform's contracts define.
pub fn methods() -> Vec<Method> {
    let set = prost_types::FileDescriptorSet::decode(jiceng_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set");
    let mut methods = Vec::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                methods.push(Method {
                    path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                    service: format!("{}.{}", file.package(), service.name()),
                    server_streaming: method.server_streaming(),
                    client_streaming: method.client_streaming(),
                });
            }
        }
    }
    methods
}

fn request(auth: &str, body: Bytes) -> Request<Bytes> {
    let mut request = Request::new(body);
    request.set_timeout(Duration::from_secs(10));
    request
        .metadata_mut()
        .insert("authorization", auth.parse().expect("header"));
    request
}

/// Calls the unary `method` with `body` as the request, authorized by `auth`.
pub async fn call(
    channel: Channel,
    auth: &str,
    method: &str,
    body: Bytes,
) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = method.parse().expect("a method path");
    grpc.unary(request(auth, body), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// Opens the server-streaming `method`: Ok once the server has accepted the call (the stream
/// itself is dropped), or the status it refused the call with.
pub async fn open_stream(
    channel: Channel,
    auth: &str,
    method: &str,
    body: Bytes,
) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = method.parse().expect("a method path");
    grpc.server_streaming(request(auth, body), path, RawCodec)
        .await
        .map(drop)
}
