//! AWS adapters for tyk-dr, one module per service.
