//! The ZOLOZ endpoints this service calls, the regional hosts, and the validated identifiers
//! that go on the wire (client id, base URL, transaction and business ids).

use std::fmt;
use std::str::FromStr;

pub use crate::domain::ids::{BizId, TransactionId};
use crate::domain::{FaceCaptureApiVersion, Product};

/// One ZOLOZ API this service calls. Every one of them is idempotent (safe to retry and poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `v1a.zoloz.facecapture.checkresult` (with `faceCaptureResult`).
    FaceCaptureV1a,
    /// `v1.zoloz.facecapture.checkresult` (older; no `faceCaptureResult`).
    FaceCaptureV1,
    /// `v1.zoloz.facecompare.asynccheckresult`.
    FaceCompare,
    /// `v1.zoloz.connect.checkresult`.
    Connect,
    /// `v1.zoloz.idrecognition.checkresult`.
    IdRecognition,
    /// `v1.zoloz.authentication.test`: echoes the posted JSON (a credentials probe).
    AuthenticationTest,
}

impl Api {
    /// The URI path, which is also what the signature covers.
    pub fn path(self) -> &'static str {
        match self {
            Api::FaceCaptureV1a => "/api/v1a/zoloz/facecapture/checkresult",
            Api::FaceCaptureV1 => "/api/v1/zoloz/facecapture/checkresult",
            Api::FaceCompare => "/api/v1/zoloz/facecompare/asynccheckresult",
            Api::Connect => "/api/v1/zoloz/connect/checkresult",
            Api::IdRecognition => "/api/v1/zoloz/idrecognition/checkresult",
            Api::AuthenticationTest => "/api/v1/zoloz/authentication/test",
        }
    }

    /// Every API.
    pub const ALL: [Api; 6] = [
        Api::FaceCaptureV1a,
        Api::FaceCaptureV1,
        Api::FaceCompare,
        Api::Connect,
        Api::IdRecognition,
        Api::AuthenticationTest,
    ];

    /// The API for a path, if it is one of ours.
    pub fn from_path(path: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|api| api.path() == path)
    }

    /// The product a checkresult API answers for.
    pub fn product(self) -> Option<Product> {
        match self {
            Api::FaceCaptureV1a | Api::FaceCaptureV1 => Some(Product::FaceCapture),
            Api::FaceCompare => Some(Product::FaceCompare),
            Api::Connect => Some(Product::Connect),
            Api::IdRecognition => Some(Product::IdRecognition),
            Api::AuthenticationTest => None,
        }
    }

    /// Which Face Capture API this is, for the engine's rule of evidence (`Unknown` for the
    /// other APIs).
    pub fn face_capture_version(self) -> FaceCaptureApiVersion {
        match self {
            Api::FaceCaptureV1 => FaceCaptureApiVersion::V1,
            Api::FaceCaptureV1a => FaceCaptureApiVersion::V1a,
            _ => FaceCaptureApiVersion::Unknown,
        }
    }

    /// A stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Api::FaceCaptureV1a => "facecapture_v1a",
            Api::FaceCaptureV1 => "facecapture_v1",
            Api::FaceCompare => "facecompare",
            Api::Connect => "connect",
            Api::IdRecognition => "idrecognition",
            Api::AuthenticationTest => "authentication_test",
        }
    }
}

/// Which Face Capture checkresult version a tenant calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceCaptureApi {
    /// `/api/v1a/` (default): reports `faceCaptureResult`, `qualityPassed`, `deviceRisk`.
    #[default]
    V1a,
    /// `/api/v1/`: the older API without a product state.
    V1,
}

impl FromStr for FaceCaptureApi {
    type Err = InvalidValue;

    /// `v1a` or `v1`, as configuration files and `explain --face-capture-api` spell them.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "v1a" => Ok(FaceCaptureApi::V1a),
            "v1" => Ok(FaceCaptureApi::V1),
            other => Err(InvalidValue(format!(
                "{other:?}: expected \"v1a\" or \"v1\""
            ))),
        }
    }
}

impl From<FaceCaptureApi> for FaceCaptureApiVersion {
    fn from(api: FaceCaptureApi) -> Self {
        api.api_for(Product::FaceCapture).face_capture_version()
    }
}

impl FaceCaptureApi {
    /// The checkresult API for a product under this choice.
    pub fn api_for(self, product: Product) -> Api {
        match product {
            Product::FaceCapture => match self {
                FaceCaptureApi::V1a => Api::FaceCaptureV1a,
                FaceCaptureApi::V1 => Api::FaceCaptureV1,
            },
            Product::FaceCompare => Api::FaceCompare,
            Product::Connect => Api::Connect,
            Product::IdRecognition => Api::IdRecognition,
        }
    }
}

/// A field value that failed validation: the message says what is wrong, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The ZOLOZ client id (Client-Id header): ASCII letters and digits, 1 to 64 characters. It is
/// part of the signed content, separated by `.`, so nothing else is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClientId {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(InvalidValue(
                "client id must be 1 to 64 ASCII letters or digits (the portal's Client ID)".into(),
            ));
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A ZOLOZ base URL (`scheme://host[:port]`), without a trailing `/` (the official Java
/// example produces `//api/...` from one and fails to verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

/// The regional production hosts, and the sandbox of the official samples.
pub const REGIONS: [(&str, &str); 4] = [
    ("sg", "https://sg-production-api.zoloz.com"),
    ("hk", "https://hk-production-api.zoloz.net"),
    ("id", "https://id-production-api.zoloz.com"),
    ("sg-sandbox", "https://sg-sandbox-api.zoloz.com"),
];

impl BaseUrl {
    /// The URL of a region name (`sg`, `hk`, `id`, `sg-sandbox`).
    pub fn for_region(region: &str) -> Result<Self, InvalidValue> {
        REGIONS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(region.trim()))
            .map(|(_, url)| Self((*url).to_string()))
            .ok_or_else(|| {
                InvalidValue(format!(
                    "unknown region {region:?}: expected one of {}",
                    REGIONS.map(|(n, _)| n).join(", ")
                ))
            })
    }

    /// The full URL of an API.
    pub fn url(&self, api: Api) -> String {
        format!("{}{}", self.0, api.path())
    }

    /// The base URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether answers would travel in the clear over a network: `http://` to a host other
    /// than loopback (`localhost`, 127.0.0.0/8, `::1`).
    pub fn is_plaintext_off_loopback(&self) -> bool {
        let Ok(url) = reqwest::Url::parse(&self.0) else {
            return true;
        };
        if url.scheme() != "http" {
            return false;
        }
        let host = url.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => !ip.is_loopback(),
            Err(_) => !host.eq_ignore_ascii_case("localhost"),
        }
    }
}

impl FromStr for BaseUrl {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim().trim_end_matches('/');
        let url = reqwest::Url::parse(trimmed)
            .map_err(|e| InvalidValue(format!("base url {trimmed:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidValue(format!(
                "base url {trimmed:?} must be http or https"
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InvalidValue(format!("base url {trimmed:?} has no host")));
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(InvalidValue(format!(
                "base url {trimmed:?} must not have a path: the signature covers /api/..., so give scheme://host[:port]"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(InvalidValue(format!(
                "base url {trimmed:?} must not have a query, fragment or credentials"
            )));
        }
        Ok(Self(trimmed.to_string()))
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_told_apart_from_loopback() {
        for (url, off_loopback) in [
            ("https://sg-production-api.zoloz.com", false),
            ("http://127.0.0.1:8080", false),
            ("http://127.1.2.3", false),
            ("http://[::1]:9", false),
            ("http://localhost:9", false),
            ("http://10.0.0.7:8080", true),
            ("http://proxy.internal", true),
            ("http://[2001:db8::1]", true),
        ] {
            let url: BaseUrl = url.parse().unwrap();
            assert_eq!(url.is_plaintext_off_loopback(), off_loopback, "{url}");
        }
    }

    #[test]
    fn base_url_strips_trailing_slash_and_refuses_paths() {
        let url: BaseUrl = "https://sg-production-api.zoloz.com/".parse().unwrap();
        assert_eq!(
            url.url(Api::Connect),
            "https://sg-production-api.zoloz.com/api/v1/zoloz/connect/checkresult"
        );
        assert!("https://example.com/prefix".parse::<BaseUrl>().is_err());
        assert!("ftp://example.com".parse::<BaseUrl>().is_err());
        assert!("not a url".parse::<BaseUrl>().is_err());
        assert!("http://127.0.0.1:8080".parse::<BaseUrl>().is_ok());
        assert_eq!(
            BaseUrl::for_region("HK").unwrap().as_str(),
            "https://hk-production-api.zoloz.net"
        );
        assert!(BaseUrl::for_region("us").is_err());
    }

    #[test]
    fn ids_are_checked() {
        assert!("2089012345678900".parse::<ClientId>().is_ok());
        assert!("2089.0".parse::<ClientId>().is_err());
        assert!("".parse::<ClientId>().is_err());
    }

    #[test]
    fn paths_round_trip() {
        for api in Api::ALL {
            assert_eq!(Api::from_path(api.path()), Some(api));
        }
    }
}
