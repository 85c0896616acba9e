//! Placeholder until the issue 6 work lands.

use std::sync::Arc;

use axum::Router;

use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
}
