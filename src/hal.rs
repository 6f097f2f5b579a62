//! HAL rendering (in progress).
