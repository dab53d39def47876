//! The API's protobuf codec: prost's, except for what a message that does not decode becomes.
//!
//! tonic-prost answers every decode failure with `INTERNAL` and no details. A request that does
//! not decode (a string field that is not UTF-8, a truncated varint, a wrong wire type) is the
//! caller's bad input: it gets `INVALID_ARGUMENT` with `ErrorInfo` `INVALID_REQUEST` and a
//! `BadRequest` naming the field, like every other bad request (docs/design.md, Errors). An answer
//! that does not decode, in the generated client, is still `INTERNAL`: the caller's side did
//! nothing wrong. Which one a message is, [`Decoded`] says per type.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use crate::error::{FieldViolation, ServiceError};
use crate::pb;

/// What a decode failure of this message type means.
pub trait Decoded: Message + Default + 'static {
    /// The status for a message of this type that does not decode.
    fn decode_failure(error: &prost::DecodeError) -> Status;
}

/// Requests: the caller's bad input.
macro_rules! request {
    ($($message:ty),+) => {$(
        impl Decoded for $message {
            fn decode_failure(error: &prost::DecodeError) -> Status {
                request_decode_failure(error)
            }
        }
    )+};
}

request!(
    pb::GetVerificationResultRequest,
    pb::WatchVerificationResultRequest,
    pb::EvaluateVerificationResultRequest
);

impl Decoded for pb::VerificationResult {
    fn decode_failure(error: &prost::DecodeError) -> Status {
        // What tonic-prost answers: an answer that does not decode is no fault of the caller.
        Status::internal(error.to_string())
    }
}

/// `INVALID_ARGUMENT` / `INVALID_REQUEST` with one field violation: the field prost names
/// (`transaction_id`, `image_options.extra_images`), or `request` when it names none (a
/// truncated message).
fn request_decode_failure(error: &prost::DecodeError) -> Status {
    let text = error.to_string();
    let (field, description) = failed_field(&text);
    crate::grpc::status::to_status(&ServiceError::invalid_request(vec![FieldViolation {
        field,
        description: format!("the request message does not decode: {description}"),
    }]))
}

/// Reads prost's error text, `failed to decode Protobuf message: Outer.field: Inner.field:
/// description`, into the dotted field path (`field.field`) and the description.
fn failed_field(text: &str) -> (String, String) {
    let mut rest = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(text);
    let mut path = Vec::new();
    // Each `Message.field: ` prefix is one level; a message name is an identifier.
    while let Some((head, tail)) = rest.split_once(": ") {
        let Some((message, field)) = head.split_once('.') else {
            break;
        };
        let identifier =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !identifier(message) || !identifier(field) {
            break;
        }
        path.push(field);
        rest = tail;
    }
    let field = if path.is_empty() {
        "request".to_string()
    } else {
        path.join(".")
    };
    (field, rest.to_string())
}

/// prost's encoding; decoding through [`Decoded`].
#[derive(Debug, Clone, Copy)]
pub struct VerdictCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for VerdictCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for VerdictCodec<T, U>
where
    T: Message + Send + 'static,
    U: Decoded + Send,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = VerdictDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        VerdictDecoder { _type: PhantomData }
    }
}

/// Decodes with prost; a failure becomes [`Decoded::decode_failure`].
#[derive(Debug, Clone, Copy)]
pub struct VerdictDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Decoded> Decoder for VerdictDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| U::decode_failure(&e))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn prost_errors_name_their_field() {
        for (text, field, description) in [
            (
                "failed to decode Protobuf message: GetVerificationResultRequest.transaction_id: \
                 invalid string value: data is not UTF-8 encoded",
                "transaction_id",
                "invalid string value: data is not UTF-8 encoded",
            ),
            (
                "failed to decode Protobuf message: GetVerificationResultRequest.image_options: \
                 ImageOptions.extra_images: invalid varint",
                "image_options.extra_images",
                "invalid varint",
            ),
            (
                "failed to decode Protobuf message: invalid varint",
                "request",
                "invalid varint",
            ),
            (
                "failed to decode Protobuf message: buffer underflow",
                "request",
                "buffer underflow",
            ),
        ] {
            assert_eq!(
                failed_field(text),
                (field.to_string(), description.to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn a_request_that_does_not_decode_is_invalid_argument_with_details() {
        // product = 3, then field 2 (transaction_id) of length 2 holding bytes that are not
        // UTF-8.
        let bytes: &[u8] = &[0x08, 0x03, 0x12, 0x02, 0xff, 0xfe];
        let error = pb::GetVerificationResultRequest::decode(bytes).unwrap_err();
        let status = pb::GetVerificationResultRequest::decode_failure(&error);
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "INVALID_REQUEST");
        assert_eq!(info.domain, "zoloz-verdict");
        let violations = &details.bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "transaction_id");
        // An answer that does not decode stays INTERNAL.
        let answer = pb::VerificationResult::decode(bytes).unwrap_err();
        assert_eq!(
            pb::VerificationResult::decode_failure(&answer).code(),
            Code::Internal
        );
    }
}
