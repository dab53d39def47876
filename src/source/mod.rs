//! The result source: where verdict facts come from. It calls ZOLOZ through the adapter,
//! caches terminal facts, and makes concurrent identical requests share one upstream call.

pub mod cache;
pub mod flight;
