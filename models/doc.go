// Package models owns the database: the gorm entities, the versioned migrations, opening SQLite or
// PostgreSQL, and transactions carried in a context. It knows nothing of orders' rules, HTTP or providers.
package models
