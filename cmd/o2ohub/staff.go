package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core/staff"
)

const staffUsage = "usage: o2ohub staff set USERNAME --role admin|clerk [--store CODE] [--disable] (password from O2OHUB_STAFF_PASSWORD, else a new one is printed)"

// staffCommand runs `o2ohub staff set USERNAME …`: it creates or updates a staff account from the
// command line, for the first admin of a new hub and for password resets.
func staffCommand(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer, getenv func(string) string) error {
	if len(args) < 2 || args[0] != "set" {
		return errors.New(staffUsage)
	}
	username := args[1]
	fs := flag.NewFlagSet("staff set", flag.ContinueOnError)
	role := fs.String("role", staff.RoleClerk, "admin (every store) or clerk (one store)")
	store := fs.String("store", "", "the clerk's store code")
	disable := fs.Bool("disable", false, "disable the account (ends its sessions)")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New(staffUsage)
	}
	db, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	password, shown := getenv("O2OHUB_STAFF_PASSWORD"), false
	if password == "" {
		if password, err = newPassword(); err != nil {
			return err
		}
		shown = true
	}
	v, err := newService(db, cfg, log).Staff.Put(ctx, staff.Input{Username: username, Password: password, Role: *role, Store: *store, Disabled: *disable})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "staff %s saved: role %s", v.Username, v.Role)
	if v.Store != "" {
		fmt.Fprintf(stdout, ", store %s", v.Store)
	}
	if shown {
		fmt.Fprintf(stdout, ", password %s (shown once)", password)
	}
	fmt.Fprintln(stdout)
	return nil
}

// newPassword draws a 16-character password without look-alike characters.
func newPassword() (string, error) {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}
