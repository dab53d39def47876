//! One request through the simulated gateway, in the order ZOLOZ's gateway works: route,
//! authenticate (Client-Id, `Request-Time`, signature or AK/SK), decrypt, validate the JSON,
//! pick the answer (recorded response, scenario, or `approve`), then sign (and seal) exactly
//! the bytes sent. The module-level documentation of [`super`] lists the refusal codes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::macros::offset;

use super::bodies::{self, Ask, personalize, result_only};
use super::catalogue::{self, Body, Delivery, Reply, Scenario};
use super::recorded::Recorded;
use super::{SimulatorConfig, SimulatorError, recorded};
use crate::domain::Product;
use crate::zoloz::aksk::{self, SecretKey};
use crate::zoloz::api::Api;
use crate::zoloz::keys::{PrivateKey, PublicKey};
use crate::zoloz::{envelope, signing};

/// An answer.
pub(crate) type Answer = Response<Full<Bytes>>;

/// Checkresult requests are a few hundred bytes; anything much larger is refused unread.
const MAX_REQUEST_BYTES: usize = 1 << 20;

const JSON: &str = "application/json; charset=UTF-8";
const TEXT: &str = "text/plain; charset=UTF-8";
const HTML: &str = "text/html; charset=UTF-8";
const RESPONSE_TIME: HeaderName = HeaderName::from_static("response-time");
const SIGNATURE: HeaderName = HeaderName::from_static("signature");
const ENCRYPT: HeaderName = HeaderName::from_static("encrypt");

/// A key that is not ZOLOZ's, for `bad-signature` (generated once per process; warmed up by
/// [`warm_up`] off the request path).
static IMPOSTOR_KEY: LazyLock<Option<PrivateKey>> = LazyLock::new(|| PrivateKey::generate().ok());
/// A secret that is not the configured one, for `bad-signature` in AK/SK mode.
static IMPOSTOR_SECRET: LazyLock<SecretKey> =
    LazyLock::new(|| SecretKey::from_bytes(b"zoloz-verdict simulator: not the secret key"));

/// Builds what the first `bad-signature` request would otherwise wait for (RSA key generation).
pub(crate) fn warm_up() {
    LazyLock::force(&IMPOSTOR_KEY);
}

/// The endpoints served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Checkresult(Product),
    AuthenticationTest,
}

impl Endpoint {
    /// The endpoint of a path, from the one list of ZOLOZ paths ([`Api`]).
    fn of(path: &str) -> Option<Self> {
        let api = Api::from_path(path)?;
        Some(match api.product() {
            Some(product) => Endpoint::Checkresult(product),
            None => Endpoint::AuthenticationTest,
        })
    }
}

/// How an answer is signed.
#[derive(Clone, Copy)]
enum Signer<'a> {
    /// RSA with the ZOLOZ private key.
    Rsa,
    /// AK/SK: HMAC with the shared secret.
    Hmac(&'a SecretKey),
}

/// Where an answer goes: what its signature covers and whether it is sealed.
struct To<'a> {
    path: &'a str,
    client_id: &'a str,
    signer: Signer<'a>,
    encrypted: bool,
}

/// A validated checkresult request.
struct Checkresult {
    transaction_id: String,
    return_images: bool,
    extra_images: Vec<String>,
}

/// Request counts, overall and per transaction id.
#[derive(Default)]
pub(crate) struct Counts {
    total: AtomicU64,
    by_transaction: Mutex<HashMap<String, TransactionCounts>>,
}

#[derive(Default)]
struct TransactionCounts {
    /// Requests naming the transaction id, refused ones included.
    calls: u64,
    /// Requests that reached the scenario (authenticated and valid): what scripts count.
    polls: u64,
}

impl Counts {
    fn with<R>(&self, transaction_id: &str, f: impl FnOnce(&mut TransactionCounts) -> R) -> R {
        // A panic while holding the lock cannot leave the counts inconsistent (each update is
        // one increment), so a poisoned lock is used as is.
        let mut map = self
            .by_transaction
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(transaction_id) {
            Some(counts) => f(counts),
            None => f(map.entry(transaction_id.to_owned()).or_default()),
        }
    }

    fn call(&self, transaction_id: Option<&str>) {
        if let Some(id) = transaction_id {
            self.with(id, |c| c.calls += 1);
        }
    }

    fn poll(&self, transaction_id: &str) -> u64 {
        self.with(transaction_id, |c| {
            c.polls += 1;
            c.polls
        })
    }

    /// Requests that named `transaction_id`.
    pub(crate) fn calls(&self, transaction_id: &str) -> u64 {
        self.by_transaction
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(transaction_id)
            .map_or(0, |c| c.calls)
    }

    /// Every request received.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Forgets every count, so scripted scenarios start over.
    pub(crate) fn reset(&self) {
        let mut map = self
            .by_transaction
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.clear();
        self.total.store(0, Ordering::Relaxed);
    }
}

impl Gateway {
    /// Signs answers under `version` from now on (`None`: the unversioned key).
    pub(crate) fn sign_with(&self, version: Option<&str>) -> Result<(), SimulatorError> {
        if let Some(version) = version
            && !self.zoloz_versioned.contains_key(version)
        {
            return Err(SimulatorError::UnknownKeyVersion(version.to_string()));
        }
        *self
            .signing_version
            .write()
            .unwrap_or_else(PoisonError::into_inner) = version.map(str::to_string);
        Ok(())
    }
}

/// Everything a request needs: keys, recorded responses, counts.
pub(crate) struct Gateway {
    client_id: String,
    merchant_public: PublicKey,
    zoloz_private: Arc<PrivateKey>,
    zoloz_versioned: BTreeMap<String, Arc<PrivateKey>>,
    /// The `keyVersion` answers are signed under now (`None`: the unversioned key).
    signing_version: RwLock<Option<String>>,
    aksk: Option<(String, SecretKey)>,
    slow_delay: Duration,
    recorded: Recorded,
    pub(crate) counts: Counts,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("client_id", &self.client_id)
            .field("recorded", &self.recorded.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Loads the recorded responses, if any.
    pub(crate) fn new(config: SimulatorConfig) -> Result<Self, SimulatorError> {
        let recorded = match &config.scenarios_dir {
            Some(dir) => recorded::load(dir)?,
            None => Recorded::new(),
        };
        if let Some(version) = &config.signing_key_version
            && !config.zoloz_versioned_keys.contains_key(version)
        {
            return Err(SimulatorError::UnknownKeyVersion(version.clone()));
        }
        Ok(Self {
            client_id: config.client_id,
            merchant_public: config.merchant_public_key,
            zoloz_private: config.zoloz_private_key,
            zoloz_versioned: config.zoloz_versioned_keys,
            signing_version: RwLock::new(config.signing_key_version),
            aksk: config.aksk,
            slow_delay: config.slow_delay,
            recorded,
            counts: Counts::default(),
        })
    }

    /// Answers one request. Never fails: every problem is an answer.
    pub(crate) async fn handle<B>(&self, request: Request<B>) -> Result<Answer, Infallible>
    where
        B: hyper::body::Body,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        self.counts.total.fetch_add(1, Ordering::Relaxed);
        let path = request.uri().path().to_owned();
        let Some(endpoint) = Endpoint::of(&path) else {
            return Ok(http_error(
                StatusCode::NOT_FOUND,
                "NO_INTERFACE_DEF",
                &format!("no interface is defined for {path}"),
            ));
        };
        if request.method() != Method::POST {
            let mut answer = http_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "NO_INTERFACE_DEF",
                &format!("{} is not supported: use POST", request.method()),
            );
            answer
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return Ok(answer);
        }
        if !request.headers().contains_key(header::USER_AGENT) {
            // ZOLOZ's WAF blocks requests without a User-Agent (docs/protocol.md, Transport).
            return Ok(plain(
                StatusCode::FORBIDDEN,
                HTML,
                Bytes::from_static(catalogue::WAF_PAGE.as_bytes()),
            ));
        }
        let (parts, body) = request.into_parts();
        let Ok(collected) = Limited::new(body, MAX_REQUEST_BYTES).collect().await else {
            return Ok(http_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PARAM_ILLEGAL",
                "the request body is too large or could not be read",
            ));
        };
        Ok(self
            .exchange(endpoint, &path, &parts.headers, &collected.to_bytes())
            .await)
    }

    async fn exchange(
        &self,
        endpoint: Endpoint,
        path: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Answer {
        let client_id = header_str(headers, "client-id");
        let aksk_requested = header_str(headers, "auth-type")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(aksk::AUTH_TYPE));
        let signer = match (&self.aksk, aksk_requested) {
            (Some((_, secret)), true) => Signer::Hmac(secret),
            _ => Signer::Rsa,
        };
        let encrypt = header_str(headers, "encrypt");
        let plaintext: Result<Cow<'_, [u8]>, Value> = match encrypt {
            None => Ok(Cow::Borrowed(body)),
            Some(_) if aksk_requested => Err(result_only(
                "PARAM_ILLEGAL",
                "F",
                "encryption is not supported with AK/SK authentication",
            )),
            Some(value) => envelope::open(&self.zoloz_private, value, body)
                .map(Cow::Owned)
                .map_err(|e| {
                    result_only(
                        "MSG_PARSE_ERROR",
                        "F",
                        &format!("cannot decrypt the request: {e}"),
                    )
                }),
        };
        let json: Option<Value> = plaintext
            .as_ref()
            .ok()
            .and_then(|p| serde_json::from_slice(p).ok());
        self.counts.call(
            json.as_ref()
                .and_then(|j| j.get("transactionId"))
                .and_then(Value::as_str),
        );

        let mut to = To {
            path,
            client_id: client_id.unwrap_or_default(),
            signer,
            encrypted: false,
        };
        if let Err(refusal) = self.authenticate(headers, client_id, path, body, aksk_requested) {
            return self.answer(&to, &refusal, Delivery::Signed);
        }
        let plaintext = match plaintext {
            Ok(plaintext) => plaintext,
            Err(refusal) => return self.answer(&to, &refusal, Delivery::Signed),
        };
        to.encrypted = encrypt.is_some();
        let Some(Value::Object(request)) = json else {
            let refusal = result_only(
                "MSG_PARSE_ERROR",
                "F",
                "the request body is not a JSON object",
            );
            return self.answer(&to, &refusal, Delivery::Signed);
        };
        match endpoint {
            Endpoint::AuthenticationTest => {
                let posted = String::from_utf8_lossy(&plaintext);
                self.answer(&to, &echo(&posted, request), Delivery::Signed)
            }
            Endpoint::Checkresult(product) => match checkresult_request(product, &request) {
                Ok(ask) => self.checkresult(product, &ask, &to).await,
                Err(refusal) => self.answer(&to, &refusal, Delivery::Signed),
            },
        }
    }

    /// The gateway's checks, in its order; `Err` holds the (signed, plain) refusal body.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        client_id: Option<&str>,
        path: &str,
        body: &[u8],
        aksk_requested: bool,
    ) -> Result<(), Value> {
        let refuse = |code: &str, message: &str| Err(result_only(code, "F", message));
        let Some(client_id) = client_id.filter(|c| !c.is_empty()) else {
            return refuse("PARAM_MISSING", "the Client-Id header is missing");
        };
        if client_id != self.client_id {
            return refuse("KEY_NOT_FOUND", "no key is registered for this Client-Id");
        }
        let secret = if aksk_requested {
            let Some((access_key, secret)) = &self.aksk else {
                return refuse(
                    "KEY_NOT_FOUND",
                    "AK/SK authentication is not enabled for this client",
                );
            };
            if header_str(headers, "access-key") != Some(access_key.as_str()) {
                return refuse(
                    "KEY_NOT_FOUND",
                    "no secret key is registered for this Access-Key",
                );
            }
            Some(secret)
        } else {
            None
        };
        let Some(time) = header_str(headers, "request-time") else {
            return refuse("PARAM_MISSING", "the Request-Time header is missing");
        };
        if signing::parse_wire_time(time)
            .map(signing::format_wire_time)
            .as_deref()
            != Some(time)
        {
            return refuse(
                "PARAM_ILLEGAL",
                "Request-Time must be yyyy-MM-ddTHH:mm:ss±HHMM, e.g. 2020-01-01T08:00:00+0800",
            );
        }
        let Some(signature) = header_str(headers, "signature") else {
            return refuse("SIGNATURE_INVALID", "the Signature header is missing");
        };
        let valid = match secret {
            Some(secret) => {
                let bare = signature
                    .rsplit_once("signature=")
                    .map_or(signature, |(_, value)| value);
                aksk::verify(secret, path, client_id, time, body, bare)
            }
            None => signing::parse_signature_header(signature).is_ok_and(|header| {
                signing::verify(&self.merchant_public, path, client_id, time, body, &header).is_ok()
            }),
        };
        if valid {
            Ok(())
        } else {
            refuse(
                "SIGNATURE_INVALID",
                "the request signature does not verify with the merchant public key",
            )
        }
    }

    async fn checkresult(&self, product: Product, request: &Checkresult, to: &To<'_>) -> Answer {
        let poll = self.counts.poll(&request.transaction_id);
        if let Some(body) = self.recorded.get(&request.transaction_id) {
            return self.deliver(to, body.clone(), Delivery::Signed);
        }
        let scenario = match resolve(product, &request.transaction_id) {
            Ok(scenario) => scenario,
            Err(message) => {
                let refusal = result_only("INVALID_ARGUMENT", "F", &message);
                return self.answer(to, &refusal, Delivery::Signed);
            }
        };
        match scenario.script.reply(poll) {
            Reply::Http {
                status,
                content_type,
                body,
                retry_after,
            } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
                let mut answer = plain(status, content_type, Bytes::from_static(body.as_bytes()));
                if let Some(after) = retry_after {
                    answer
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static(after));
                }
                answer
            }
            Reply::Zoloz { body, delivery } => {
                let bytes = match body {
                    Body::Json(template) => {
                        let ask = Ask {
                            transaction_id: &request.transaction_id,
                            return_images: request.return_images,
                            extra_images: &request.extra_images,
                        };
                        distinct(json_bytes(&personalize(template, &ask)), ask.transaction_id)
                    }
                    Body::Text(text) => Bytes::from_static(text.as_bytes()),
                };
                if *delivery == Delivery::Slow {
                    tokio::time::sleep(self.slow_delay).await;
                }
                self.deliver(to, bytes, *delivery)
            }
        }
    }

    fn answer(&self, to: &To<'_>, body: &Value, delivery: Delivery) -> Answer {
        self.deliver(to, json_bytes(body), delivery)
    }

    /// Seals (when the request was sealed), cuts (`truncated`), times and signs the body.
    fn deliver(&self, to: &To<'_>, plaintext: Bytes, delivery: Delivery) -> Answer {
        let (mut body, encrypt_header) = if to.encrypted {
            match envelope::seal(&self.merchant_public, &plaintext) {
                Ok(sealed) => (Bytes::from(sealed.body), Some(sealed.encrypt_header)),
                Err(_) => {
                    return http_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "SYSTEM_ERROR",
                        "the simulator could not encrypt its answer",
                    );
                }
            }
        } else {
            (plaintext, None)
        };
        if delivery == Delivery::Truncated {
            body.truncate(body.len() / 2);
        }
        let now = OffsetDateTime::now_utc().to_offset(offset!(+8));
        let time = signing::format_wire_time(match delivery {
            Delivery::Stale => now - time::Duration::hours(1),
            _ => now,
        });
        let signature = match delivery {
            Delivery::Unsigned => None,
            Delivery::BadSignature => Some(self.sign(to, &time, &body, true)),
            _ => Some(self.sign(to, &time, &body, false)),
        };
        let mut answer = plain(StatusCode::OK, if to.encrypted { TEXT } else { JSON }, body);
        let headers = answer.headers_mut();
        insert(headers, RESPONSE_TIME, &time);
        if let Some(signature) = signature {
            insert(headers, SIGNATURE, &signature);
        }
        if let Some(encrypt) = encrypt_header {
            insert(headers, ENCRYPT, &encrypt);
        }
        answer
    }

    /// The `Signature` header value over the answer; `wrong` signs with a key that is not ours.
    fn sign(&self, to: &To<'_>, time: &str, body: &[u8], wrong: bool) -> String {
        match (to.signer, wrong) {
            (Signer::Hmac(secret), false) => aksk::sign(secret, to.path, to.client_id, time, body),
            (Signer::Hmac(_), true) => {
                aksk::sign(&IMPOSTOR_SECRET, to.path, to.client_id, time, body)
            }
            (Signer::Rsa, false) => {
                let version = self
                    .signing_version
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                match version.and_then(|v| self.zoloz_versioned.get(&v).map(|key| (v, key))) {
                    // As the gateway names a rotated key: a `keyVersion` pair after the others.
                    Some((version, key)) => format!(
                        "{}, keyVersion={version}",
                        signing::sign(key, to.path, to.client_id, time, body)
                    ),
                    None => signing::sign(&self.zoloz_private, to.path, to.client_id, time, body),
                }
            }
            (Signer::Rsa, true) => match &*IMPOSTOR_KEY {
                Some(key) => signing::sign(key, to.path, to.client_id, time, body),
                None => {
                    // Key generation failed: a corrupted signature is as wrong as a wrong key.
                    let content = signing::content_to_sign(to.path, to.client_id, time, body);
                    let mut signature = self.zoloz_private.sign_sha256(&content);
                    if let Some(byte) = signature.first_mut() {
                        *byte ^= 0x01;
                    }
                    signing::signature_header(&signature)
                }
            },
        }
    }
}

/// The scenario a transaction id selects at `product`'s endpoint, or the `INVALID_ARGUMENT`
/// message.
fn resolve(product: Product, transaction_id: &str) -> Result<&'static Scenario, String> {
    let Some(rest) = transaction_id.strip_prefix("sim-") else {
        return catalogue::find(product, "approve")
            .ok_or_else(|| format!("no approve scenario for {product}"));
    };
    let named = Product::ALL.into_iter().find_map(|p| {
        rest.strip_prefix(p.slug())
            .and_then(|r| r.strip_prefix('-'))
            .map(|name| (p, name))
    });
    match named {
        None => Err(format!(
            "transactionId {transaction_id} names no product: expected sim-<product>-<scenario>"
        )),
        Some((named, _)) if named != product => Err(format!(
            "transactionId {transaction_id} is a {named} scenario, not a {product} one"
        )),
        Some((named, name)) => {
            // `sim-connect-approve.42`: the suffix only makes the id distinct.
            let name = name.split_once('.').map_or(name, |(name, _)| name);
            catalogue::find(named, name).ok_or_else(|| {
                format!("unknown {named} scenario {name:?} (docs/simulator.md lists the scenarios)")
            })
        }
    }
}

/// Validates a checkresult request body as ZOLOZ does; `Err` holds the refusal.
fn checkresult_request(
    product: Product,
    request: &Map<String, Value>,
) -> Result<Checkresult, Value> {
    let transaction_id = required(request, "transactionId", 64)?;
    if product.requires_biz_id() {
        required(request, "bizId", 32)?;
    }
    let illegal = |message: &str| result_only("PARAM_ILLEGAL", "F", message);
    let return_images = match request.get("isReturnImage") {
        _ if product == Product::FaceCompare => false,
        None | Some(Value::Null) => product == Product::IdRecognition,
        Some(Value::String(flag)) if flag == "Y" => true,
        Some(Value::String(flag)) if flag == "N" => false,
        Some(_) => return Err(illegal("isReturnImage must be Y or N")),
    };
    let extra_images = match request.get("extraImageControlList") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| illegal("extraImageControlList must be a list of strings"))?,
        Some(_) => return Err(illegal("extraImageControlList must be a list of strings")),
    };
    Ok(Checkresult {
        transaction_id,
        return_images,
        extra_images,
    })
}

fn required(request: &Map<String, Value>, field: &str, max_len: usize) -> Result<String, Value> {
    match request.get(field) {
        Some(Value::String(value)) if value.chars().count() > max_len => Err(result_only(
            "PARAM_ILLEGAL",
            "F",
            &format!("{field} is longer than {max_len} characters"),
        )),
        Some(Value::String(value)) if !value.is_empty() => Ok(value.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(result_only(
            "PARAM_MISSING",
            "F",
            &format!("{field} is required"),
        )),
        Some(_) => Err(result_only(
            "PARAM_ILLEGAL",
            "F",
            &format!("{field} must be a string"),
        )),
    }
}

/// `authentication/test`, answered as the gateway does: a SUCCESS `result` whose
/// `resultMessage` is the posted JSON as a string (what ZOLOZ's SDK reads back), then the posted
/// fields.
fn echo(posted: &str, request: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("result".into(), bodies::result("SUCCESS", "S", posted));
    for (key, value) in request {
        if key != "result" {
            out.insert(key, value);
        }
    }
    Value::Object(out)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A body made distinct per transaction by trailing JSON whitespace (64 spaces and tabs
/// spelling a hash of the transaction id). ZOLOZ's answers to different transactions differ
/// (scores, OCR, images); the simulator's templates do not, and two byte-identical answers
/// signed in the same second for two transactions are what a replay looks like: the service
/// refuses the second. No line break: ZOLOZ's Java SDK reads the body line by line and
/// verifies the signature over the lines joined, so a line break would fail its check.
fn distinct(body: Bytes, transaction_id: &str) -> Bytes {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in transaction_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(&body);
    out.extend((0..64).map(|bit| if hash >> bit & 1 == 1 { b'\t' } else { b' ' }));
    Bytes::from(out)
}

fn json_bytes(value: &Value) -> Bytes {
    // Serializing a `Value` cannot fail (its map keys are strings).
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    // Times, Base64 and percent-encoding are visible ASCII: always a valid header value.
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn plain(status: StatusCode, content_type: &'static str, body: Bytes) -> Answer {
    let mut answer = Response::new(Full::new(body));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    answer
}

/// An HTTP-level refusal (not ZOLOZ's business layer): unsigned JSON.
fn http_error(status: StatusCode, code: &str, message: &str) -> Answer {
    plain(status, JSON, json_bytes(&result_only(code, "F", message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_bodies_differ_by_transaction_and_stay_on_one_line() {
        let body = Bytes::from_static(br#"{"result":{"resultCode":"SUCCESS"}}"#);
        let a = distinct(body.clone(), "T1");
        let b = distinct(body.clone(), "T2");
        assert_ne!(a, b);
        assert_eq!(a, distinct(body.clone(), "T1"));
        // ZOLOZ's Java SDK joins the body's lines before it verifies the signature.
        assert!(!a.contains(&b'\n') && !a.contains(&b'\r'));
        assert!(serde_json::from_slice::<serde_json::Value>(&a).is_ok());
    }

    #[test]
    fn transaction_ids_resolve_by_product() {
        let name = |p, id| resolve(p, id).map(|s| (s.product, s.name));
        assert_eq!(
            name(Product::Connect, "G0000"),
            Ok((Product::Connect, "approve"))
        );
        assert_eq!(
            name(Product::FaceCompare, "sim-face-compare-mismatch"),
            Ok((Product::FaceCompare, "mismatch"))
        );
        assert_eq!(
            name(
                Product::FaceCapture,
                "sim-face-capture-pending-then-approve"
            ),
            Ok((Product::FaceCapture, "pending-then-approve"))
        );
        assert!(
            name(Product::FaceCapture, "sim-connect-approve")
                .unwrap_err()
                .contains("is a connect scenario, not a face-capture one")
        );
        assert!(
            name(Product::Connect, "sim-connect-nope")
                .unwrap_err()
                .contains("unknown connect scenario \"nope\"")
        );
        assert_eq!(
            name(Product::Connect, "sim-connect-pending-then-approve.7-42"),
            Ok((Product::Connect, "pending-then-approve"))
        );
        assert!(
            name(Product::Connect, "sim-connect-nope.1")
                .unwrap_err()
                .contains("unknown connect scenario \"nope\"")
        );
        assert!(
            name(Product::Connect, "sim-nothing")
                .unwrap_err()
                .contains("names no product")
        );
    }

    #[test]
    fn requests_are_validated_like_zoloz() {
        let code = |product, body: Value| {
            let Value::Object(map) = body else { panic!() };
            checkresult_request(product, &map).err().map(|refusal| {
                refusal["result"]["resultCode"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
        };
        use serde_json::json;
        assert_eq!(
            code(Product::Connect, json!({"bizId": "b"})).as_deref(),
            Some("PARAM_MISSING")
        );
        assert_eq!(
            code(Product::Connect, json!({"transactionId": "t"})).as_deref(),
            Some("PARAM_MISSING")
        );
        assert_eq!(
            code(Product::FaceCompare, json!({"transactionId": "t"})),
            None
        );
        assert_eq!(
            code(
                Product::IdRecognition,
                json!({"transactionId": "t", "bizId": "b", "isReturnImage": "yes"})
            )
            .as_deref(),
            Some("PARAM_ILLEGAL")
        );
        assert_eq!(
            code(
                Product::Connect,
                json!({"transactionId": "t".repeat(65), "bizId": "b"})
            )
            .as_deref(),
            Some("PARAM_ILLEGAL")
        );
        assert_eq!(
            code(Product::Connect, json!({"transactionId": 7, "bizId": "b"})).as_deref(),
            Some("PARAM_ILLEGAL")
        );
        let Value::Object(map) = json!({"transactionId": "t", "bizId": "b"}) else {
            panic!()
        };
        assert!(
            checkresult_request(Product::IdRecognition, &map)
                .unwrap()
                .return_images
        );
        assert!(
            !checkresult_request(Product::FaceCapture, &map)
                .unwrap()
                .return_images
        );
    }

    #[test]
    fn counts_calls_and_polls_separately() {
        let counts = Counts::default();
        counts.call(Some("a"));
        counts.call(Some("a"));
        counts.call(None);
        assert_eq!(counts.poll("a"), 1);
        assert_eq!(counts.poll("a"), 2);
        assert_eq!(counts.calls("a"), 2);
        assert_eq!(counts.calls("b"), 0);
        counts.reset();
        assert_eq!(counts.calls("a"), 0);
        assert_eq!(counts.poll("a"), 1);
    }

    #[test]
    fn echo_puts_the_result_first_and_keeps_the_fields() {
        let posted = r#"{"title": "hello", "result": 1}"#;
        let Ok(Value::Object(map)) = serde_json::from_str(posted) else {
            panic!()
        };
        assert_eq!(
            serde_json::to_string(&echo(posted, map)).unwrap(),
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"{\"title\": \"hello\", \"result\": 1}"},"title":"hello"}"#
        );
    }
}
