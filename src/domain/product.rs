//! The four ZOLOZ products whose checkresult responses the engine understands.

use std::fmt;
use std::str::FromStr;

/// A ZOLOZ product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Product {
    /// Face Capture (liveness).
    FaceCapture,
    /// Face Compare (two images).
    FaceCompare,
    /// Connect (face login against an enrolled face).
    Connect,
    /// ID Recognition (identity documents).
    IdRecognition,
}

impl Product {
    /// Every product, in API order.
    pub const ALL: [Product; 4] = [
        Product::FaceCapture,
        Product::FaceCompare,
        Product::Connect,
        Product::IdRecognition,
    ];

    /// The command-line and simulator name (`face-capture`, …).
    pub fn slug(self) -> &'static str {
        match self {
            Product::FaceCapture => "face-capture",
            Product::FaceCompare => "face-compare",
            Product::Connect => "connect",
            Product::IdRecognition => "id-recognition",
        }
    }

    /// A stable lower-case label for metrics and logs (`face_capture`, …).
    pub fn label(self) -> &'static str {
        match self {
            Product::FaceCapture => "face_capture",
            Product::FaceCompare => "face_compare",
            Product::Connect => "connect",
            Product::IdRecognition => "id_recognition",
        }
    }

    /// Whether the product's checkresult API requires a `bizId` (all but Face Compare's
    /// asynccheckresult).
    pub fn requires_biz_id(self) -> bool {
        !matches!(self, Product::FaceCompare)
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// The text is not a product name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown product {0:?}: expected face-capture, face-compare, connect or id-recognition")]
pub struct UnknownProduct(pub String);

impl FromStr for Product {
    type Err = UnknownProduct;

    /// Accepts the slug (`face-capture`), the label (`face_capture`) and the proto name
    /// (`PRODUCT_FACE_CAPTURE`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s
            .trim()
            .to_ascii_lowercase()
            .replace('_', "-")
            .trim_start_matches("product-")
            .to_string();
        Product::ALL
            .into_iter()
            .find(|p| p.slug() == normalized)
            .ok_or_else(|| UnknownProduct(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Product::ALL {
            assert_eq!(p.slug().parse::<Product>(), Ok(p));
            assert_eq!(p.label().parse::<Product>(), Ok(p));
            assert_eq!(
                format!("PRODUCT_{}", p.label().to_uppercase()).parse::<Product>(),
                Ok(p)
            );
        }
        assert!("facecapture".parse::<Product>().is_err());
        assert!("".parse::<Product>().is_err());
    }
}
