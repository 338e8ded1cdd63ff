//! Unit tests of the generated templates' behaviour.
