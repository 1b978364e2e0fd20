// Package config owns o2ohub's one configuration struct: its defaults, loading from an optional JSON file
// and O2OHUB_* environment variables, validation, and printing with secrets masked. It must not open
// databases or talk to providers. The comments of the Config fields are the configuration reference:
// config/gen writes them to docs/configuration.md.
package config

//go:generate go run ./gen
