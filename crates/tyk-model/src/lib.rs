//! Tyk data formats shared by the tyk-dr CLI and the bundled gateway.
