//! The gRPC transport: conversion between domain values and the API types, and the one
//! mapping from errors to `tonic::Status`.

pub mod convert;
pub mod status;
