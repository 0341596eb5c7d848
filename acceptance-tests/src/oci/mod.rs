//! OCI in tests: an independent verifier of OCI request signatures ([`verify`]), the state a
//! fake OCI serves ([`fixtures`]) and a local HTTPS endpoint that plays the OCI services the
//! provider calls, checking every request's signature ([`fake`]).

pub mod fake;
pub mod fixtures;
pub mod verify;
