//! Request validation: API messages in, validated queries out, every violation reported at
//! once as a `BadRequest` field violation. Nothing downstream re-checks these values.

use std::time::Duration;

use bytes::Bytes;

use crate::domain::ids::{BizId, TransactionId};
use crate::domain::{FaceCaptureApiVersion, Product};
use crate::error::{FieldViolation, ServiceError};
use crate::pb;

/// Images asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ImageRequest {
    /// Return the product's images.
    pub return_images: bool,
    /// Extra images (`extraImageControlList`).
    pub extra_images: Vec<String>,
}

/// A validated Get (or one poll of a Watch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictQuery {
    /// The product.
    pub product: Product,
    /// The transaction.
    pub transaction_id: TransactionId,
    /// The business id, if the caller gave one.
    pub biz_id: Option<BizId>,
    /// The tenant name, if the caller gave one.
    pub tenant: Option<String>,
    /// The policy name, if the caller gave one.
    pub policy: Option<String>,
    /// Images asked for.
    pub images: ImageRequest,
    /// Skip the cache.
    pub bypass_cache: bool,
    /// Which RPC asks.
    pub origin: QueryOrigin,
}

/// Which RPC a query comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryOrigin {
    /// GetVerificationResult (or EvaluateVerificationResult).
    #[default]
    Get,
    /// One poll of WatchVerificationResult: its PENDING answers are not recorded as verdicts.
    WatchPoll,
}

/// A validated Evaluate.
#[derive(Debug, Clone)]
pub struct EvaluateQuery {
    /// The product.
    pub product: Product,
    /// The checkresult response body.
    pub body: Bytes,
    /// The tenant name, if the caller gave one.
    pub tenant: Option<String>,
    /// The policy name, if the caller gave one.
    pub policy: Option<String>,
    /// Which Face Capture API produced the body (Face Capture only), when the caller said.
    pub face_capture_api: FaceCaptureApiVersion,
}

/// At most this many extra images may be asked for.
pub const MAX_EXTRA_IMAGES: usize = 16;

#[derive(Default)]
struct Violations(Vec<FieldViolation>);

impl Violations {
    fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.to_string(),
            description: description.into(),
        });
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, ServiceError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(ServiceError::invalid_request(self.0)),
        }
    }
}

fn product(raw: i32, v: &mut Violations) -> Option<Product> {
    match pb::Product::try_from(raw) {
        Ok(pb::Product::Unspecified) => {
            v.add("product", "is required");
            None
        }
        Ok(pb::Product::FaceCapture) => Some(Product::FaceCapture),
        Ok(pb::Product::FaceCompare) => Some(Product::FaceCompare),
        Ok(pb::Product::Connect) => Some(Product::Connect),
        Ok(pb::Product::IdRecognition) => Some(Product::IdRecognition),
        Err(_) => {
            v.add("product", format!("unknown value {raw}"));
            None
        }
    }
}

/// A tenant or policy name: empty means "the default"; otherwise 1 to 64 of
/// `A-Z a-z 0-9 _ . -`.
fn name(field: &str, raw: &str, v: &mut Violations) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    if !crate::domain::ids::is_valid_name(raw) {
        v.add(
            field,
            "must be at most 64 characters of A-Z, a-z, 0-9, '_', '.', '-'",
        );
        return None;
    }
    Some(raw.to_string())
}

fn images(options: Option<&pb::ImageOptions>, v: &mut Violations) -> ImageRequest {
    let Some(options) = options else {
        return ImageRequest::default();
    };
    if !options.return_images && !options.extra_images.is_empty() {
        v.add(
            "image_options.extra_images",
            "extra images need image_options.return_images",
        );
    }
    if options.extra_images.len() > MAX_EXTRA_IMAGES {
        v.add(
            "image_options.extra_images",
            format!("at most {MAX_EXTRA_IMAGES} extra images"),
        );
    }
    for (i, extra) in options.extra_images.iter().enumerate() {
        if extra.is_empty()
            || extra.len() > 64
            || !extra
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            v.add(
                &format!("image_options.extra_images[{i}]"),
                "must be an upper-case ZOLOZ image name such as CROPPED_FACE (A-Z, 0-9, '_', at most 64)",
            );
        }
    }
    ImageRequest {
        return_images: options.return_images,
        extra_images: options.extra_images.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
fn query(
    raw_product: i32,
    transaction_id: &str,
    biz_id: &str,
    tenant: &str,
    policy: &str,
    image_options: Option<&pb::ImageOptions>,
    bypass_cache: bool,
    v: &mut Violations,
) -> Option<VerdictQuery> {
    let product = product(raw_product, v);
    let transaction_id = transaction_id
        .parse::<TransactionId>()
        .map_err(|e| v.add("transaction_id", e.to_string()))
        .ok();
    let biz_id = if biz_id.is_empty() {
        None
    } else {
        biz_id
            .parse::<BizId>()
            .map_err(|e| v.add("biz_id", e.to_string()))
            .ok()
    };
    let tenant = name("tenant", tenant, v);
    let policy = name("policy", policy, v);
    let images = images(image_options, v);
    Some(VerdictQuery {
        product: product?,
        transaction_id: transaction_id?,
        biz_id,
        tenant,
        policy,
        images,
        bypass_cache,
        origin: QueryOrigin::Get,
    })
}

/// Validates a Get.
pub fn get_query(request: &pb::GetVerificationResultRequest) -> Result<VerdictQuery, ServiceError> {
    let mut v = Violations::default();
    let q = query(
        request.product,
        &request.transaction_id,
        &request.biz_id,
        &request.tenant,
        &request.policy,
        request.image_options.as_ref(),
        request.bypass_cache,
        &mut v,
    );
    v.finish(q)
}

/// Validates a Watch: the query and the requested `max_wait` (none when unset or zero).
pub fn watch_query(
    request: &pb::WatchVerificationResultRequest,
) -> Result<(VerdictQuery, Option<Duration>), ServiceError> {
    let mut v = Violations::default();
    let q = query(
        request.product,
        &request.transaction_id,
        &request.biz_id,
        &request.tenant,
        &request.policy,
        request.image_options.as_ref(),
        request.bypass_cache,
        &mut v,
    );
    let max_wait = match &request.max_wait {
        None => None,
        Some(d) if d.seconds < 0 || d.nanos < 0 => {
            v.add("max_wait", "must not be negative");
            None
        }
        Some(d) if !(0..1_000_000_000).contains(&d.nanos) => {
            v.add("max_wait", "nanos must be below 1000000000");
            None
        }
        Some(d) if d.seconds == 0 && d.nanos == 0 => None,
        Some(d) => Some(Duration::new(
            d.seconds.unsigned_abs(),
            d.nanos.unsigned_abs(),
        )),
    };
    let mut q = v.finish(q)?;
    q.origin = QueryOrigin::WatchPoll;
    Ok((q, max_wait))
}

/// How large an Evaluate body may be: parsing builds a tree many times the body's size, so
/// the size and the number of JSON elements are bounded before anything is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvaluateLimits {
    /// Bytes at most (`server.max_evaluate_body_bytes`).
    pub max_body_bytes: usize,
    /// JSON elements at most (`server.max_evaluate_json_elements`): values and object keys,
    /// counted as the `{`, `[`, `,` and `:` outside strings.
    pub max_json_elements: usize,
}

impl Default for EvaluateLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_json_elements: 100_000,
        }
    }
}

/// Whether `body` has more than `limit` JSON elements (a structural count in one pass over
/// the bytes, without parsing; it stops as soon as the limit is passed).
fn json_elements_exceed(body: &[u8], limit: usize) -> bool {
    let mut count = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' | b',' | b':' => {
                count += 1;
                if count > limit {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Validates an Evaluate within `limits`.
pub fn evaluate_query(
    request: &pb::EvaluateVerificationResultRequest,
    limits: &EvaluateLimits,
) -> Result<EvaluateQuery, ServiceError> {
    let mut v = Violations::default();
    let product = product(request.product, &mut v);
    let body = &request.response_body;
    if body.is_empty() {
        v.add("response_body", "is required");
    } else if body.len() > limits.max_body_bytes {
        v.add(
            "response_body",
            format!(
                "{} bytes is more than server.max_evaluate_body_bytes ({})",
                body.len(),
                limits.max_body_bytes
            ),
        );
    } else if json_elements_exceed(body, limits.max_json_elements) {
        v.add(
            "response_body",
            format!(
                "more than server.max_evaluate_json_elements ({}) JSON elements",
                limits.max_json_elements
            ),
        );
    }
    let tenant = name("tenant", &request.tenant, &mut v);
    let policy = name("policy", &request.policy, &mut v);
    let face_capture_api = face_capture_api(request.face_capture_api, product, &mut v);
    let q = product.map(|product| EvaluateQuery {
        product,
        body: request.response_body.clone(),
        tenant,
        policy,
        face_capture_api,
    });
    v.finish(q)
}

/// The Face Capture API the caller names; only a Face Capture body can have one.
fn face_capture_api(
    raw: i32,
    product: Option<Product>,
    v: &mut Violations,
) -> FaceCaptureApiVersion {
    const FIELD: &str = "face_capture_api";
    let api = match pb::FaceCaptureApi::try_from(raw) {
        Ok(pb::FaceCaptureApi::Unspecified) => return FaceCaptureApiVersion::Unknown,
        Ok(pb::FaceCaptureApi::V1) => FaceCaptureApiVersion::V1,
        Ok(pb::FaceCaptureApi::V1a) => FaceCaptureApiVersion::V1a,
        Err(_) => {
            v.add(FIELD, format!("unknown value {raw}"));
            return FaceCaptureApiVersion::Unknown;
        }
    };
    if product.is_some_and(|p| p != Product::FaceCapture) {
        v.add(FIELD, "applies to PRODUCT_FACE_CAPTURE only");
    }
    api
}

#[cfg(test)]
mod limit_tests {
    use super::json_elements_exceed;

    #[test]
    fn json_elements_are_counted_outside_strings() {
        let body = br#"{"a":[1,2,{"b":"x,:{[\",]"}]}"#;
        // { : [ , , { : — seven, whatever the string holds.
        assert!(!json_elements_exceed(body, 7));
        assert!(json_elements_exceed(body, 6));
        let many = format!("[{}]", vec!["{}"; 1000].join(","));
        // [ and 1000 { and 999 ,
        assert!(json_elements_exceed(many.as_bytes(), 1999));
        assert!(!json_elements_exceed(many.as_bytes(), 2000));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(
        f: impl FnOnce(&mut pb::GetVerificationResultRequest),
    ) -> Result<VerdictQuery, ServiceError> {
        let mut r = pb::GetVerificationResultRequest {
            product: pb::Product::Connect as i32,
            transaction_id: "sim-connect-approve".into(),
            ..Default::default()
        };
        f(&mut r);
        get_query(&r)
    }

    fn fields(err: ServiceError) -> Vec<String> {
        err.violations.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_good_request_passes() {
        let q = get(|_| {}).unwrap();
        assert_eq!(q.product, Product::Connect);
        assert_eq!(q.tenant, None);
        assert_eq!(q.images, ImageRequest::default());
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let err = get(|r| {
            r.product = 0;
            r.transaction_id = String::new();
            r.biz_id = "x".repeat(33);
            r.tenant = "bad tenant".into();
            r.policy = "p/1".into();
        })
        .unwrap_err();
        assert_eq!(
            fields(err),
            ["product", "transaction_id", "biz_id", "tenant", "policy"]
        );
        assert_eq!(fields(get(|r| r.product = 42).unwrap_err()), ["product"]);
        assert_eq!(
            fields(get(|r| r.transaction_id = "t".repeat(65)).unwrap_err()),
            ["transaction_id"]
        );
        assert_eq!(
            fields(get(|r| r.transaction_id = "tab\there".into()).unwrap_err()),
            ["transaction_id"]
        );
        assert_eq!(
            fields(get(|r| r.transaction_id = "日本".into()).unwrap_err()),
            ["transaction_id"]
        );
    }

    #[test]
    fn image_options_are_checked() {
        let err = get(|r| {
            r.image_options = Some(pb::ImageOptions {
                return_images: false,
                extra_images: vec!["CROPPED_FACE".into(), "lower".into()],
            })
        })
        .unwrap_err();
        assert_eq!(
            fields(err),
            [
                "image_options.extra_images",
                "image_options.extra_images[1]"
            ]
        );
        let q = get(|r| {
            r.image_options = Some(pb::ImageOptions {
                return_images: true,
                extra_images: vec!["DOC_FRONT_ANGLE".into()],
            })
        })
        .unwrap();
        assert!(q.images.return_images);
    }

    #[test]
    fn watch_max_wait() {
        let mut r = pb::WatchVerificationResultRequest {
            product: pb::Product::Connect as i32,
            transaction_id: "t".into(),
            ..Default::default()
        };
        assert_eq!(watch_query(&r).unwrap().1, None);
        r.max_wait = Some(prost_types::Duration {
            seconds: 2,
            nanos: 500,
        });
        assert_eq!(watch_query(&r).unwrap().1, Some(Duration::new(2, 500)));
        r.max_wait = Some(prost_types::Duration {
            seconds: -1,
            nanos: 0,
        });
        assert_eq!(fields(watch_query(&r).unwrap_err()), ["max_wait"]);
    }

    #[test]
    fn evaluate_needs_a_body() {
        let r = pb::EvaluateVerificationResultRequest {
            product: pb::Product::FaceCompare as i32,
            ..Default::default()
        };
        assert_eq!(
            fields(evaluate_query(&r, &EvaluateLimits::default()).unwrap_err()),
            ["response_body"]
        );
    }

    #[test]
    fn the_face_capture_api_is_for_face_capture_bodies() {
        let evaluate = |product: i32, api: i32| {
            evaluate_query(
                &pb::EvaluateVerificationResultRequest {
                    product,
                    face_capture_api: api,
                    response_body: b"{}".to_vec().into(),
                    ..Default::default()
                },
                &EvaluateLimits::default(),
            )
        };
        let face_capture = pb::Product::FaceCapture as i32;
        let connect = pb::Product::Connect as i32;
        let (v1, v1a) = (
            pb::FaceCaptureApi::V1 as i32,
            pb::FaceCaptureApi::V1a as i32,
        );
        for (product, api, expected) in [
            (face_capture, 0, FaceCaptureApiVersion::Unknown),
            (face_capture, v1, FaceCaptureApiVersion::V1),
            (face_capture, v1a, FaceCaptureApiVersion::V1a),
            (connect, 0, FaceCaptureApiVersion::Unknown),
        ] {
            assert_eq!(evaluate(product, api).unwrap().face_capture_api, expected);
        }
        assert_eq!(
            fields(evaluate(connect, v1a).unwrap_err()),
            ["face_capture_api"]
        );
        assert_eq!(
            fields(evaluate(face_capture, 7).unwrap_err()),
            ["face_capture_api"]
        );
        // A bad product is reported alone: the API cannot be judged against it, unless the
        // value is unknown whatever the product.
        assert_eq!(fields(evaluate(0, v1).unwrap_err()), ["product"]);
        assert_eq!(
            fields(evaluate(9, 7).unwrap_err()),
            ["product", "face_capture_api"]
        );
    }
}
