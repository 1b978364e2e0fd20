package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migration is one versioned schema change, written once per dialect through the placeholders
// {{id}} (auto-increment primary key), {{time}} (timestamp) and {{float}}.
type migration struct {
	version int
	name    string
	sql     string
	// relax lists constraints the migration loosens before sql runs (a NOT NULL dropped, a CHECK widened),
	// which SQLite's ALTER TABLE cannot express.
	relax []relaxation
}

// relaxation loosens one constraint of a table: on SQLite by rewriting its stored definition (from → to,
// the documented writable_schema way for changes that leave the stored rows valid), on PostgreSQL with
// the ALTER TABLE statement pg.
type relaxation struct {
	table    string
	from, to string
	pg       string
}

// relaxConstraints applies a migration's relaxations in the migration's transaction.
func (d *DB) relaxConstraints(tx *gorm.DB, rs []relaxation) error {
	if len(rs) == 0 {
		return nil
	}
	if d.postgres {
		for _, r := range rs {
			if err := tx.Exec(r.pg).Error; err != nil {
				return err
			}
		}
		return nil
	}
	var version int
	if err := tx.Raw("PRAGMA schema_version").Scan(&version).Error; err != nil {
		return err
	}
	if err := tx.Exec("PRAGMA writable_schema=ON").Error; err != nil {
		return err
	}
	for _, r := range rs {
		res := tx.Exec("UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ? AND instr(sql, ?) > 0", r.from, r.to, r.table, r.from)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("table %s has no %q to relax", r.table, r.from)
		}
	}
	if err := tx.Exec("PRAGMA writable_schema=OFF").Error; err != nil {
		return err
	}
	// A new schema version makes every connection read the changed definitions.
	return tx.Exec(fmt.Sprintf("PRAGMA schema_version = %d", version+1)).Error
}

// SchemaVersion is the version the code expects the schema to be at.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

func (d *DB) dialectSQL(s string) string {
	r := strings.NewReplacer("{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{time}}", "DATETIME", "{{float}}", "REAL")
	if d.postgres {
		r = strings.NewReplacer("{{id}}", "BIGSERIAL PRIMARY KEY", "{{time}}", "TIMESTAMPTZ", "{{float}}", "DOUBLE PRECISION")
	}
	return r.Replace(s)
}

// Migrate brings the schema to SchemaVersion. It is safe when several replicas start at once: on
// PostgreSQL an advisory lock serialises them, on SQLite the immediate write transaction does.
func (d *DB) Migrate(ctx context.Context) error {
	return d.Tx(ctx, func(ctx context.Context) error {
		tx := d.Conn(ctx)
		if d.postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(7244520291)").Error; err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
		}
		if err := tx.Exec(d.dialectSQL(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {{time}} NOT NULL)`)).Error; err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := tx.Raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current).Error; err != nil {
			return err
		}
		for _, m := range migrations {
			if m.version <= current {
				continue
			}
			if err := d.relaxConstraints(tx, m.relax); err != nil {
				return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
			}
			for _, stmt := range strings.Split(d.dialectSQL(m.sql), ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
				}
			}
			if err := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UTC()).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// AppliedVersion returns the newest migration applied, 0 when none.
func (d *DB) AppliedVersion(ctx context.Context) (int, error) {
	var v int
	err := d.Conn(ctx).Raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v).Error
	return v, err
}

var migrations = []migration{{version: 1, name: "core order flow", sql: `
CREATE TABLE stores (
	id {{id}},
	code TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	address TEXT NOT NULL DEFAULT '',
	lat {{float}} NOT NULL,
	lng {{float}} NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('open','closed')),
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE TABLE products (
	id {{id}},
	sku TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	price_fen BIGINT NOT NULL CHECK (price_fen > 0),
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE TABLE stocks (
	id {{id}},
	store_id BIGINT NOT NULL REFERENCES stores(id),
	product_id BIGINT NOT NULL REFERENCES products(id),
	on_hand BIGINT NOT NULL DEFAULT 0,
	reserved BIGINT NOT NULL DEFAULT 0,
	updated_at {{time}} NOT NULL,
	UNIQUE (store_id, product_id),
	CHECK (reserved >= 0 AND reserved <= on_hand));
CREATE TABLE stock_movements (
	id {{id}},
	store_id BIGINT NOT NULL,
	product_id BIGINT NOT NULL,
	delta_on_hand BIGINT NOT NULL,
	delta_reserved BIGINT NOT NULL,
	kind TEXT NOT NULL,
	order_no TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL);
CREATE INDEX stock_movements_store_product ON stock_movements (store_id, product_id);
CREATE TABLE members (
	id {{id}},
	phone TEXT UNIQUE,
	display_name TEXT NOT NULL DEFAULT '',
	merged_into BIGINT REFERENCES members(id),
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE TABLE identities (
	id {{id}},
	provider TEXT NOT NULL,
	subject TEXT NOT NULL,
	member_id BIGINT NOT NULL REFERENCES members(id),
	created_at {{time}} NOT NULL,
	UNIQUE (provider, subject));
CREATE INDEX identities_member ON identities (member_id);
CREATE TABLE member_merges (
	id {{id}},
	from_id BIGINT NOT NULL,
	into_id BIGINT NOT NULL,
	reason TEXT NOT NULL,
	created_at {{time}} NOT NULL);
CREATE TABLE sessions (
	id {{id}},
	token_hash TEXT NOT NULL UNIQUE,
	member_id BIGINT NOT NULL REFERENCES members(id),
	expires_at {{time}} NOT NULL,
	created_at {{time}} NOT NULL);
CREATE INDEX sessions_member ON sessions (member_id);
CREATE TABLE orders (
	id {{id}},
	order_no TEXT NOT NULL UNIQUE,
	member_id BIGINT NOT NULL REFERENCES members(id),
	store_id BIGINT NOT NULL REFERENCES stores(id),
	fulfillment TEXT NOT NULL CHECK (fulfillment IN ('pickup','delivery')),
	status TEXT NOT NULL,
	total_fen BIGINT NOT NULL CHECK (total_fen > 0),
	address_text TEXT NOT NULL DEFAULT '',
	address_lat {{float}},
	address_lng {{float}},
	expires_at {{time}} NOT NULL,
	paid_at {{time}},
	provider TEXT NOT NULL DEFAULT '',
	provider_txn TEXT NOT NULL DEFAULT '',
	note TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX orders_member ON orders (member_id);
CREATE INDEX orders_status_expires ON orders (status, expires_at);
CREATE TABLE order_items (
	id {{id}},
	order_id BIGINT NOT NULL REFERENCES orders(id),
	product_id BIGINT NOT NULL REFERENCES products(id),
	sku TEXT NOT NULL,
	name TEXT NOT NULL,
	price_fen BIGINT NOT NULL,
	qty BIGINT NOT NULL CHECK (qty > 0));
CREATE INDEX order_items_order ON order_items (order_id);
CREATE TABLE payment_attempts (
	id {{id}},
	order_id BIGINT NOT NULL REFERENCES orders(id),
	provider TEXT NOT NULL,
	prepay_id TEXT NOT NULL,
	amount_fen BIGINT NOT NULL,
	params TEXT NOT NULL,
	status TEXT NOT NULL,
	created_at {{time}} NOT NULL);
CREATE INDEX payment_attempts_order ON payment_attempts (order_id);
CREATE UNIQUE INDEX payment_attempts_open ON payment_attempts (order_id, provider) WHERE status = 'open';
CREATE TABLE payments (
	id {{id}},
	provider TEXT NOT NULL,
	provider_txn TEXT NOT NULL,
	order_no TEXT NOT NULL,
	order_id BIGINT,
	amount_fen BIGINT NOT NULL,
	result TEXT NOT NULL,
	paid_at {{time}} NOT NULL,
	created_at {{time}} NOT NULL,
	UNIQUE (provider, provider_txn));
CREATE TABLE refunds (
	id {{id}},
	order_id BIGINT NOT NULL REFERENCES orders(id),
	refund_no TEXT NOT NULL UNIQUE,
	provider TEXT NOT NULL,
	provider_txn TEXT NOT NULL,
	amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
	reason TEXT NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{time}} NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX refunds_due ON refunds (status, next_attempt_at);
CREATE TABLE events (
	id {{id}},
	topic TEXT NOT NULL,
	key TEXT NOT NULL,
	payload TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	delivered_at {{time}},
	created_at {{time}} NOT NULL);
CREATE TABLE settings (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL);
CREATE TABLE alerts (
	id {{id}},
	kind TEXT NOT NULL,
	order_no TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL,
	created_at {{time}} NOT NULL)
`}, {version: 2, name: "provider channels", sql: `
ALTER TABLE payment_attempts ADD COLUMN next_check_at {{time}};
ALTER TABLE payment_attempts ADD COLUMN checks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payment_attempts ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
UPDATE payment_attempts SET next_check_at = created_at WHERE status = 'open';
CREATE INDEX payment_attempts_check ON payment_attempts (status, next_check_at);
ALTER TABLE refunds ADD COLUMN provider_refund_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN courier TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN courier_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN tracking_no TEXT NOT NULL DEFAULT '';
CREATE TABLE tasks (
	id {{id}},
	kind TEXT NOT NULL,
	target TEXT NOT NULL,
	order_no TEXT NOT NULL,
	payload TEXT NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{time}} NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX tasks_due ON tasks (status, next_attempt_at);
CREATE TABLE cache_entries (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	expires_at {{time}} NOT NULL)
`}, {version: 3, name: "shelf qr codes", sql: `
CREATE TABLE trace_batches (
	id {{id}},
	batch_no TEXT NOT NULL UNIQUE,
	product_id BIGINT NOT NULL REFERENCES products(id),
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE TABLE trace_steps (
	id {{id}},
	batch_id BIGINT NOT NULL REFERENCES trace_batches(id),
	step TEXT NOT NULL,
	happened_on {{time}} NOT NULL,
	place TEXT NOT NULL DEFAULT '',
	document TEXT NOT NULL DEFAULT '');
CREATE INDEX trace_steps_batch ON trace_steps (batch_id);
CREATE TABLE qr_codes (
	id {{id}},
	code TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	store_id BIGINT REFERENCES stores(id),
	product_id BIGINT REFERENCES products(id),
	campaign TEXT NOT NULL DEFAULT '',
	batch_id BIGINT REFERENCES trace_batches(id),
	unit TEXT NOT NULL DEFAULT '',
	scan_count BIGINT NOT NULL DEFAULT 0,
	disabled_at {{time}},
	created_at {{time}} NOT NULL);
CREATE UNIQUE INDEX qr_codes_shelf ON qr_codes (store_id, product_id) WHERE kind = 'product' AND disabled_at IS NULL;
CREATE UNIQUE INDEX qr_codes_unit ON qr_codes (batch_id, unit) WHERE unit <> '';
CREATE TABLE qr_unit_scanners (
	code_id BIGINT NOT NULL REFERENCES qr_codes(id),
	scanner TEXT NOT NULL,
	first_seen {{time}} NOT NULL,
	PRIMARY KEY (code_id, scanner));
CREATE INDEX qr_codes_store ON qr_codes (store_id);
CREATE TABLE qr_scans (
	code_id BIGINT NOT NULL REFERENCES qr_codes(id),
	day TEXT NOT NULL,
	channel TEXT NOT NULL,
	count BIGINT NOT NULL,
	PRIMARY KEY (code_id, day, channel));
ALTER TABLE orders ADD COLUMN scan_code TEXT NOT NULL DEFAULT '';
CREATE INDEX orders_scan_code ON orders (scan_code)
`}, {version: 4, name: "store operations", sql: `
ALTER TABLE stores ADD COLUMN auto_accept BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE staff (
	id {{id}},
	username TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('admin','clerk')),
	store_id BIGINT REFERENCES stores(id),
	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL,
	CHECK ((role = 'clerk') = (store_id IS NOT NULL)));
CREATE TABLE staff_sessions (
	id {{id}},
	token_hash TEXT NOT NULL UNIQUE,
	staff_id BIGINT NOT NULL REFERENCES staff(id),
	kind TEXT NOT NULL,
	expires_at {{time}} NOT NULL,
	created_at {{time}} NOT NULL);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);
ALTER TABLE orders ADD COLUMN accept_by {{time}};
CREATE INDEX orders_status_accept_by ON orders (status, accept_by);
CREATE INDEX orders_store_status ON orders (store_id, status);
ALTER TABLE order_items ADD COLUMN returned_qty BIGINT NOT NULL DEFAULT 0;
CREATE TABLE order_offers (
	id {{id}},
	order_id BIGINT NOT NULL REFERENCES orders(id),
	store_id BIGINT NOT NULL REFERENCES stores(id),
	outcome TEXT NOT NULL,
	actor TEXT NOT NULL DEFAULT '',
	reason TEXT NOT NULL DEFAULT '',
	offered_at {{time}} NOT NULL,
	decided_at {{time}});
CREATE INDEX order_offers_order ON order_offers (order_id);
CREATE UNIQUE INDEX order_offers_open ON order_offers (order_id) WHERE outcome = 'offered';
INSERT INTO order_offers (order_id, store_id, outcome, offered_at) SELECT id, store_id, 'offered', updated_at FROM orders WHERE status = 'paid';
CREATE TABLE pickup_codes (
	id {{id}},
	order_id BIGINT NOT NULL UNIQUE REFERENCES orders(id),
	store_id BIGINT NOT NULL REFERENCES stores(id),
	code TEXT NOT NULL,
	state TEXT NOT NULL,
	expires_at {{time}} NOT NULL,
	used_at {{time}},
	used_by TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL);
CREATE UNIQUE INDEX pickup_codes_live ON pickup_codes (code) WHERE state = 'live';
CREATE INDEX pickup_codes_due ON pickup_codes (state, expires_at);
CREATE TABLE pickup_attempts (
	id {{id}},
	store_id BIGINT NOT NULL REFERENCES stores(id),
	staff TEXT NOT NULL,
	action TEXT NOT NULL,
	code TEXT NOT NULL,
	order_no TEXT NOT NULL DEFAULT '',
	result TEXT NOT NULL,
	failed BOOLEAN NOT NULL,
	created_at {{time}} NOT NULL);
CREATE INDEX pickup_attempts_store ON pickup_attempts (store_id, created_at);
CREATE INDEX pickup_attempts_staff ON pickup_attempts (staff, created_at)
`}, {version: 5, name: "marketplaces", relax: []relaxation{
	{table: "orders", from: "member_id BIGINT NOT NULL REFERENCES members(id)", to: "member_id BIGINT REFERENCES members(id)",
		pg: "ALTER TABLE orders ALTER COLUMN member_id DROP NOT NULL"},
	{table: "orders", from: "CHECK (fulfillment IN ('pickup','delivery'))", to: "CHECK (fulfillment IN ('pickup','delivery','platform'))",
		pg: "ALTER TABLE orders DROP CONSTRAINT orders_fulfillment_check, ADD CONSTRAINT orders_fulfillment_check CHECK (fulfillment IN ('pickup','delivery','platform'))"},
	{table: "order_items", from: "product_id BIGINT NOT NULL REFERENCES products(id)", to: "product_id BIGINT REFERENCES products(id)",
		pg: "ALTER TABLE order_items ALTER COLUMN product_id DROP NOT NULL"},
}, sql: `
ALTER TABLE orders ADD COLUMN source TEXT NOT NULL DEFAULT 'miniprogram';
ALTER TABLE orders ADD COLUMN platform_order_id TEXT;
ALTER TABLE orders ADD COLUMN platform_shop_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN day_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN customer_paid_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN subsidy_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN commission_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN delivery_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN attention TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX orders_platform ON orders (source, platform_order_id);
ALTER TABLE order_items ADD COLUMN platform_code TEXT NOT NULL DEFAULT '';
ALTER TABLE stocks ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE TABLE market_shops (
	id {{id}},
	platform TEXT NOT NULL,
	shop_id TEXT NOT NULL,
	store_id BIGINT NOT NULL REFERENCES stores(id),
	auto_accept BOOLEAN NOT NULL DEFAULT FALSE,
	safety_stock BIGINT NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
	ratio_pct BIGINT NOT NULL DEFAULT 100 CHECK (ratio_pct >= 0 AND ratio_pct <= 100),
	state TEXT NOT NULL DEFAULT 'bound',
	push_due_at {{time}} NOT NULL,
	push_runs BIGINT NOT NULL DEFAULT 0,
	locked_until {{time}},
	full_sync_at {{time}},
	pull_due_at {{time}} NOT NULL,
	pull_runs BIGINT NOT NULL DEFAULT 0,
	pull_cursor TEXT NOT NULL DEFAULT '',
	last_push_at {{time}},
	last_order_at {{time}},
	last_error TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL,
	UNIQUE (platform, shop_id));
CREATE TABLE market_skus (
	id {{id}},
	platform TEXT NOT NULL,
	code TEXT NOT NULL,
	product_id BIGINT NOT NULL REFERENCES products(id),
	UNIQUE (platform, code));
CREATE TABLE market_levels (
	id {{id}},
	shop_id BIGINT NOT NULL REFERENCES market_shops(id),
	product_id BIGINT NOT NULL REFERENCES products(id),
	code TEXT NOT NULL,
	stock_version BIGINT NOT NULL DEFAULT -1,
	desired BIGINT NOT NULL,
	pushed BIGINT,
	attempts BIGINT NOT NULL DEFAULT 0,
	retry_at {{time}},
	last_error TEXT NOT NULL DEFAULT '',
	UNIQUE (shop_id, product_id));
CREATE TABLE market_calls (
	id {{id}},
	platform TEXT NOT NULL,
	shop_id TEXT NOT NULL,
	order_no TEXT NOT NULL,
	platform_order_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	payload TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	attempts BIGINT NOT NULL DEFAULT 0,
	next_attempt_at {{time}} NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX market_calls_due ON market_calls (status, next_attempt_at);
CREATE INDEX market_calls_order ON market_calls (order_no);
CREATE TABLE market_pending (
	id {{id}},
	platform TEXT NOT NULL,
	platform_order_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	payload TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	UNIQUE (platform, platform_order_id, kind))
`}, {version: 6, name: "platform refunds applied once", sql: `
CREATE TABLE market_refunds (
	id {{id}},
	platform TEXT NOT NULL,
	refund_id TEXT NOT NULL,
	order_id BIGINT NOT NULL REFERENCES orders(id),
	created_at {{time}} NOT NULL,
	UNIQUE (platform, refund_id))
`}, {version: 7, name: "platform orders to fetch", sql: `
CREATE TABLE market_inbox (
	id {{id}},
	platform TEXT NOT NULL,
	shop_id TEXT NOT NULL,
	order_id TEXT NOT NULL,
	attempts BIGINT NOT NULL DEFAULT 0,
	due_at {{time}} NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	UNIQUE (platform, order_id));
CREATE INDEX market_inbox_due ON market_inbox (due_at)
`}, {version: 8, name: "shared rate limits", sql: `
CREATE TABLE rate_limits (
	bucket TEXT NOT NULL,
	subject TEXT NOT NULL,
	tat BIGINT NOT NULL,
	allowed INTEGER NOT NULL,
	PRIMARY KEY (bucket, subject));
CREATE INDEX rate_limits_tat ON rate_limits (tat)
`}, {version: 9, name: "idempotency keys", sql: `
CREATE TABLE idempotency_keys (
	id {{id}},
	scope TEXT NOT NULL,
	route TEXT NOT NULL,
	key TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	state TEXT NOT NULL,
	status INTEGER NOT NULL DEFAULT 0,
	content_type TEXT NOT NULL DEFAULT '',
	body TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL,
	expires_at {{time}} NOT NULL,
	UNIQUE (scope, route, key));
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)
`}, {version: 10, name: "sandbox trades", sql: `
CREATE TABLE sandbox_trades (
	id {{id}},
	order_no TEXT NOT NULL UNIQUE,
	transaction_id TEXT NOT NULL,
	amount_fen BIGINT NOT NULL,
	status TEXT NOT NULL,
	paid_at {{time}} NOT NULL,
	refunded_fen BIGINT NOT NULL DEFAULT 0,
	notify_url TEXT NOT NULL,
	notify_due_at {{time}},
	notify_attempts BIGINT NOT NULL DEFAULT 0,
	notified_at {{time}},
	last_error TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX sandbox_trades_due ON sandbox_trades (notify_due_at);
CREATE TABLE sandbox_refunds (
	id {{id}},
	refund_no TEXT NOT NULL UNIQUE,
	order_no TEXT NOT NULL,
	amount_fen BIGINT NOT NULL,
	created_at {{time}} NOT NULL)
`}, {version: 11, name: "outgoing webhooks and alerts", sql: `
ALTER TABLE events DROP COLUMN attempts;
ALTER TABLE events DROP COLUMN delivered_at;
ALTER TABLE events ADD COLUMN position BIGINT;
CREATE UNIQUE INDEX events_position ON events (position);
CREATE INDEX events_unsequenced ON events (id) WHERE position IS NULL;
CREATE INDEX events_created ON events (created_at);
CREATE TABLE event_cursors (
	name TEXT PRIMARY KEY,
	position BIGINT NOT NULL);
INSERT INTO event_cursors (name, position) VALUES ('sequence', 0);
INSERT INTO event_cursors (name, position) VALUES ('stock', 0);
CREATE TABLE webhook_endpoints (
	id {{id}},
	name TEXT NOT NULL UNIQUE,
	url TEXT NOT NULL,
	events TEXT NOT NULL,
	enabled BOOLEAN NOT NULL,
	secret TEXT NOT NULL,
	previous_secret TEXT NOT NULL DEFAULT '',
	previous_until {{time}},
	disabled_reason TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE TABLE webhook_deliveries (
	id {{id}},
	endpoint_id BIGINT NOT NULL,
	event_id BIGINT NOT NULL,
	chain TEXT NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	tries INTEGER NOT NULL DEFAULT 0,
	next_at {{time}} NOT NULL,
	last_status INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	last_body TEXT NOT NULL DEFAULT '',
	last_at {{time}},
	delivered_at {{time}},
	created_at {{time}} NOT NULL);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE status IN ('pending', 'failed');
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (endpoint_id, chain, id) WHERE status IN ('pending', 'failed');
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (endpoint_id, status, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (delivered_at) WHERE status = 'delivered';
CREATE TABLE stock_event_marks (
	stock_id BIGINT PRIMARY KEY,
	version BIGINT NOT NULL,
	on_hand BIGINT NOT NULL,
	available BIGINT NOT NULL);
ALTER TABLE alerts ADD COLUMN dedup_key TEXT;
ALTER TABLE alerts ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN last_at {{time}};
ALTER TABLE alerts ADD COLUMN resolved_at {{time}};
ALTER TABLE alerts ADD COLUMN resolved_by TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN note TEXT NOT NULL DEFAULT '';
UPDATE alerts SET last_at = created_at;
CREATE UNIQUE INDEX alerts_open ON alerts (dedup_key) WHERE resolved_at IS NULL;
CREATE INDEX alerts_unresolved ON alerts (id) WHERE resolved_at IS NULL
`}, {version: 12, name: "loyalty points and levels", sql: `
ALTER TABLE orders ADD COLUMN discount_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN points_used BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN points_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN loyalty_settings_id BIGINT;
CREATE TABLE loyalty_settings (
	id {{id}},
	body TEXT NOT NULL,
	changed_by TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL);
CREATE TABLE loyalty_accounts (
	id {{id}},
	member_id BIGINT NOT NULL UNIQUE REFERENCES members(id),
	level_code TEXT NOT NULL DEFAULT '',
	available BIGINT NOT NULL DEFAULT 0 CHECK (available >= 0),
	pending BIGINT NOT NULL DEFAULT 0 CHECK (pending >= 0),
	debt BIGINT NOT NULL DEFAULT 0 CHECK (debt >= 0),
	due_at {{time}} NOT NULL,
	review_at {{time}} NOT NULL,
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX loyalty_accounts_due ON loyalty_accounts (due_at);
CREATE INDEX loyalty_accounts_level ON loyalty_accounts (level_code);
CREATE TABLE loyalty_entries (
	id {{id}},
	member_id BIGINT NOT NULL REFERENCES members(id),
	source TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('earn','spend','expire','clawback','adjust','hold','release')),
	points BIGINT NOT NULL,
	note TEXT NOT NULL DEFAULT '',
	actor TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	UNIQUE (member_id, source, kind));
CREATE INDEX loyalty_entries_member ON loyalty_entries (member_id, id);
CREATE TABLE loyalty_purchases (
	id {{id}},
	member_id BIGINT NOT NULL REFERENCES members(id),
	source TEXT NOT NULL UNIQUE,
	settings_id BIGINT NOT NULL REFERENCES loyalty_settings(id),
	paid_fen BIGINT NOT NULL CHECK (paid_fen >= 0),
	basis_fen BIGINT NOT NULL CHECK (basis_fen >= 0),
	refunded_fen BIGINT NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0),
	points_used BIGINT NOT NULL DEFAULT 0 CHECK (points_used >= 0),
	returned BIGINT NOT NULL DEFAULT 0 CHECK (returned >= 0),
	earned BIGINT NOT NULL DEFAULT 0 CHECK (earned >= 0),
	clawed BIGINT NOT NULL DEFAULT 0 CHECK (clawed >= 0),
	lot_id BIGINT,
	paid_at {{time}} NOT NULL,
	fulfilled_at {{time}},
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX loyalty_purchases_member ON loyalty_purchases (member_id, paid_at);
CREATE TABLE loyalty_lots (
	id {{id}},
	member_id BIGINT NOT NULL REFERENCES members(id),
	source TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('pending','available','expired')),
	points BIGINT NOT NULL CHECK (points >= 0),
	remaining BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= points),
	available_at {{time}},
	expires_at {{time}},
	created_at {{time}} NOT NULL);
CREATE INDEX loyalty_lots_member ON loyalty_lots (member_id, state, expires_at);
CREATE TABLE loyalty_allocations (
	id {{id}},
	member_id BIGINT NOT NULL REFERENCES members(id),
	source TEXT NOT NULL,
	lot_id BIGINT NOT NULL REFERENCES loyalty_lots(id),
	points BIGINT NOT NULL CHECK (points > 0),
	returned BIGINT NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= points));
CREATE INDEX loyalty_allocations_source ON loyalty_allocations (source)
`}, {version: 13, name: "member codes and till sales", sql: `
CREATE TABLE till_sales (
	id {{id}},
	store_id BIGINT NOT NULL REFERENCES stores(id),
	sale_no TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	member_id BIGINT REFERENCES members(id),
	total_fen BIGINT NOT NULL CHECK (total_fen >= 0),
	returned_fen BIGINT NOT NULL DEFAULT 0 CHECK (returned_fen >= 0 AND returned_fen <= total_fen),
	returns BIGINT NOT NULL DEFAULT 0,
	staff TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL,
	UNIQUE (store_id, sale_no));
CREATE INDEX till_sales_member ON till_sales (member_id);
CREATE TABLE till_sale_items (
	id {{id}},
	sale_id BIGINT NOT NULL REFERENCES till_sales(id),
	product_id BIGINT NOT NULL REFERENCES products(id),
	sku TEXT NOT NULL,
	qty BIGINT NOT NULL CHECK (qty > 0),
	price_fen BIGINT NOT NULL CHECK (price_fen >= 0),
	returned_qty BIGINT NOT NULL DEFAULT 0 CHECK (returned_qty >= 0 AND returned_qty <= qty),
	short_qty BIGINT NOT NULL DEFAULT 0 CHECK (short_qty >= 0 AND short_qty <= qty),
	UNIQUE (sale_id, product_id));
CREATE TABLE till_returns (
	id {{id}},
	sale_id BIGINT NOT NULL REFERENCES till_sales(id),
	return_no TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	items TEXT NOT NULL,
	refund_fen BIGINT NOT NULL CHECK (refund_fen >= 0),
	staff TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	UNIQUE (sale_id, return_no));
CREATE TABLE member_codes (
	id {{id}},
	code_hash TEXT NOT NULL UNIQUE,
	member_id BIGINT NOT NULL REFERENCES members(id),
	expires_at {{time}} NOT NULL,
	used_at {{time}},
	sale_id BIGINT REFERENCES till_sales(id),
	created_at {{time}} NOT NULL);
CREATE INDEX member_codes_member ON member_codes (member_id, expires_at)
`}, {version: 14, name: "referral rebates", sql: `
ALTER TABLE orders ADD COLUMN referrer_id BIGINT REFERENCES members(id);
CREATE TABLE referral_settings (
	id {{id}},
	tier1_bps BIGINT NOT NULL CHECK (tier1_bps >= 0 AND tier1_bps <= 5000),
	tier2_bps BIGINT NOT NULL CHECK (tier2_bps >= 0 AND tier2_bps <= 5000),
	hold_days BIGINT NOT NULL CHECK (hold_days >= 0),
	changed_by TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL);
CREATE TABLE referral_codes (
	id {{id}},
	member_id BIGINT NOT NULL UNIQUE REFERENCES members(id),
	code TEXT NOT NULL UNIQUE,
	created_at {{time}} NOT NULL);
CREATE TABLE referral_links (
	id {{id}},
	member_id BIGINT NOT NULL UNIQUE REFERENCES members(id),
	referrer_id BIGINT NOT NULL REFERENCES members(id),
	code TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	CHECK (referrer_id <> member_id));
CREATE INDEX referral_links_referrer ON referral_links (referrer_id);
CREATE TABLE referral_accounts (
	id {{id}},
	member_id BIGINT NOT NULL UNIQUE REFERENCES members(id),
	pending_fen BIGINT NOT NULL DEFAULT 0 CHECK (pending_fen >= 0),
	available_fen BIGINT NOT NULL DEFAULT 0 CHECK (available_fen >= 0),
	paid_out_fen BIGINT NOT NULL DEFAULT 0 CHECK (paid_out_fen >= 0),
	debt_fen BIGINT NOT NULL DEFAULT 0 CHECK (debt_fen >= 0),
	due_at {{time}},
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX referral_accounts_due ON referral_accounts (due_at);
CREATE TABLE referral_rebates (
	id {{id}},
	order_no TEXT NOT NULL,
	tier BIGINT NOT NULL CHECK (tier IN (1, 2)),
	referrer_id BIGINT NOT NULL REFERENCES members(id),
	buyer_id BIGINT NOT NULL REFERENCES members(id),
	bps BIGINT NOT NULL CHECK (bps > 0 AND bps <= 5000),
	hold_days BIGINT NOT NULL CHECK (hold_days >= 0),
	state TEXT NOT NULL CHECK (state IN ('placed','pending','available','void')),
	basis_fen BIGINT NOT NULL DEFAULT 0 CHECK (basis_fen >= 0),
	amount_fen BIGINT NOT NULL DEFAULT 0 CHECK (amount_fen >= 0),
	reversed_fen BIGINT NOT NULL DEFAULT 0 CHECK (reversed_fen >= 0 AND reversed_fen <= amount_fen),
	paid_at {{time}},
	fulfilled_at {{time}},
	available_at {{time}},
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL,
	UNIQUE (order_no, tier));
CREATE INDEX referral_rebates_referrer ON referral_rebates (referrer_id, state, available_at);
CREATE INDEX referral_rebates_buyer ON referral_rebates (buyer_id);
CREATE TABLE referral_entries (
	id {{id}},
	member_id BIGINT NOT NULL REFERENCES members(id),
	source TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('earn','reverse','payout')),
	amount_fen BIGINT NOT NULL,
	note TEXT NOT NULL DEFAULT '',
	actor TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	UNIQUE (member_id, source, kind));
CREATE INDEX referral_entries_member ON referral_entries (member_id, id)
`}, {version: 15, name: "campaigns, subscription credits and the inbox", sql: `
CREATE TABLE campaign_templates (
	template_id TEXT PRIMARY KEY,
	title TEXT NOT NULL DEFAULT '',
	fields TEXT NOT NULL,
	usable BOOLEAN NOT NULL DEFAULT TRUE,
	updated_by TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE TABLE campaigns (
	id {{id}},
	name TEXT NOT NULL,
	audience TEXT NOT NULL,
	template_id TEXT NOT NULL DEFAULT '',
	data TEXT NOT NULL DEFAULT '{}',
	page TEXT NOT NULL DEFAULT '',
	title TEXT NOT NULL,
	body TEXT NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('draft','running','done','cancelled')),
	recipients BIGINT NOT NULL DEFAULT 0,
	created_by TEXT NOT NULL DEFAULT '',
	started_at {{time}},
	finished_at {{time}},
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL);
CREATE INDEX campaigns_status ON campaigns (status, id);
CREATE TABLE campaign_recipients (
	id {{id}},
	campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
	member_id BIGINT NOT NULL REFERENCES members(id),
	state TEXT NOT NULL CHECK (state IN ('pending','queued','sent','rejected','failed','inboxed','cancelled')),
	channel TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	updated_at {{time}} NOT NULL,
	UNIQUE (campaign_id, member_id));
CREATE INDEX campaign_recipients_due ON campaign_recipients (state, updated_at);
CREATE INDEX campaign_recipients_progress ON campaign_recipients (campaign_id, state);
CREATE INDEX campaign_recipients_member ON campaign_recipients (member_id);
CREATE TABLE subscription_credits (
	member_id BIGINT NOT NULL REFERENCES members(id),
	template_id TEXT NOT NULL,
	credits BIGINT NOT NULL CHECK (credits >= 0),
	updated_at {{time}} NOT NULL,
	PRIMARY KEY (member_id, template_id));
CREATE TABLE member_messages (
	id {{id}},
	member_id BIGINT NOT NULL REFERENCES members(id),
	campaign_id BIGINT REFERENCES campaigns(id),
	recipient_id BIGINT UNIQUE REFERENCES campaign_recipients(id),
	title TEXT NOT NULL,
	body TEXT NOT NULL,
	page TEXT NOT NULL DEFAULT '',
	read_at {{time}},
	created_at {{time}} NOT NULL);
CREATE INDEX member_messages_member ON member_messages (member_id, id)
`}, {version: 16, name: "loyalty earning after the payment commits", sql: `
ALTER TABLE orders ADD COLUMN loyalty_due BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX orders_loyalty_due ON orders (id) WHERE loyalty_due
`}}
