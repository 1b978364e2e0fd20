// Package marketplaces holds the end-to-end tests of the instant-retail platforms: the hub (core and its
// HTTP handlers, on SQLite and PostgreSQL) against each platform's protocol-faithful fake, over loopback
// HTTP, with the real connectors in between. It has no code of its own.
package marketplaces
