//! FIX 4.4 venue (in progress).
pub mod codec;
