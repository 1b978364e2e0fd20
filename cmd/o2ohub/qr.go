package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/qrcode"
)

// qrCommand runs `o2ohub qr labels --store CODE [--out FILE]`.
func qrCommand(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout, stderr io.Writer) error {
	const qrUsage = "usage: o2ohub qr labels --store CODE [--out FILE]"
	if len(args) == 0 || args[0] != "labels" {
		return errors.New(qrUsage)
	}
	fs := flag.NewFlagSet("qr labels", flag.ContinueOnError)
	store := fs.String("store", "", "store code")
	out := fs.String("out", "", "file to write (default: standard output)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *store == "" || fs.NArg() > 0 {
		return errors.New(qrUsage)
	}
	db, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	sheet, err := newService(db, cfg, log).Shelf.LabelSheet(ctx, *store)
	if err != nil {
		return err
	}
	if qrcode.LocalURL(cfg.PublicURL) {
		fmt.Fprintf(stderr, "WARNING: O2OHUB_PUBLIC_URL is %s, an address shoppers' phones cannot reach: these labels scan to nothing. "+
			"Set O2OHUB_PUBLIC_URL to the hub's public address and print them again.\n", cfg.PublicURL)
	}
	if *out == "" {
		return qrcode.WriteSheet(stdout, sheet)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = errors.Join(qrcode.WriteSheet(bw, sheet), bw.Flush(), f.Close())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d labels of store %s to %s\n", len(sheet.Labels), *store, *out)
	return nil
}
