//! One integration harness, many focused modules (one compile).

#[path = "integration/support.rs"]
mod support;

#[path = "integration/streams.rs"]
mod streams;

#[path = "integration/cli.rs"]
mod cli;

#[path = "integration/attach.rs"]
mod attach;
#[path = "integration/blotter.rs"]
mod blotter;
#[path = "integration/client_api.rs"]
mod client_api;
#[path = "integration/client_fix.rs"]
mod client_fix;
#[path = "integration/client_pause.rs"]
mod client_pause;
#[path = "integration/client_terms.rs"]
mod client_terms;
#[path = "integration/client_two_way.rs"]
mod client_two_way;
#[path = "integration/client_view.rs"]
mod client_view;
#[path = "integration/clients.rs"]
mod clients;
#[path = "integration/console.rs"]
mod console;
#[path = "integration/console_two_way.rs"]
mod console_two_way;
#[path = "integration/corroboration_e2e.rs"]
mod corroboration_e2e;
#[path = "integration/desk_server.rs"]
mod desk_server;
#[path = "integration/desk_view.rs"]
mod desk_view;
#[path = "integration/execution.rs"]
mod execution;
#[path = "integration/fail_closed.rs"]
mod fail_closed;
#[path = "integration/fake_venues.rs"]
mod fake_venues;
#[path = "integration/fix_acceptor.rs"]
mod fix_acceptor;
#[path = "integration/fix_venue.rs"]
mod fix_venue;
#[path = "integration/health.rs"]
mod health;
#[path = "integration/hostile.rs"]
mod hostile;
#[path = "integration/layers.rs"]
mod layers;
#[path = "integration/loops.rs"]
mod loops;
#[path = "integration/overload.rs"]
mod overload;
#[path = "integration/postgres.rs"]
mod postgres;
#[path = "integration/quickfix.rs"]
mod quickfix;
#[path = "integration/quote_currency.rs"]
mod quote_currency;
#[path = "integration/reconcile.rs"]
mod reconcile;
#[path = "integration/scenarios.rs"]
mod scenarios;
#[path = "integration/serve_edges.rs"]
mod serve_edges;
#[path = "integration/tls.rs"]
mod tls;
#[path = "integration/two_way.rs"]
mod two_way;
#[path = "integration/venue_e2e.rs"]
mod venue_e2e;
#[path = "integration/venue_http.rs"]
mod venue_http;
#[path = "integration/wire.rs"]
mod wire;
