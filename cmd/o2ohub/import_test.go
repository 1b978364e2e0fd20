package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/catalog/catalogtest"
)

// TestImportCommand imports an .xlsx workbook, a workbook under another name (told by its content) and
// a GBK CSV from the command line, and refuses a CSV named .xlsx, naming the file.
func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"O2OHUB_DB": "sqlite:" + filepath.Join(dir, "import.db")}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	if err := run(ctx, []string{"migrate"}, io.Discard, io.Discard, getenv); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", getenv)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(db, cfg, newLogger(io.Discard, "error"))
	if _, err := svc.Catalog.PutStore(ctx, catalog.StoreInput{Code: "S01", Name: "人民广场店", Lat: 31.2354, Lng: 121.4757}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	header := []any{"sku", "name", "price_fen", "store", "on_hand"}
	cases := []struct {
		path, said string
	}{
		{file("stock.xlsx", catalogtest.XLSX(t, [][]any{header, {"XL-1", "鲜牛奶", 1290, "S01", 12}})), "as xlsx: applied 1 rows, 0 failed"},
		{file("from-wechat.dat", catalogtest.XLSX(t, [][]any{header, {"XL-2", "面包", 890, "S01", 5}})), "as xlsx: applied 1 rows, 0 failed"},
		{file("stock.csv", catalogtest.GBK(t, "sku,name,price_fen,store,on_hand\r\nMILK,牛奶,1590,S01,40\r\n")), "as csv in gb18030: applied 1 rows, 0 failed"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		if err := run(ctx, []string{"import", c.path}, &out, io.Discard, getenv); err != nil {
			t.Fatalf("import %s: %v", c.path, err)
		}
		if !strings.Contains(out.String(), c.said) {
			t.Errorf("import %s said %q, want %q", c.path, out.String(), c.said)
		}
	}
	fake := file("fake.xlsx", []byte("sku,name,price_fen\nNO,x,1\n"))
	if err := run(ctx, []string{"import", fake}, io.Discard, io.Discard, getenv); err == nil || !strings.Contains(err.Error(), "fake.xlsx") || !strings.Contains(err.Error(), "not an xlsx workbook") {
		t.Errorf("importing a CSV named .xlsx: %v, want it refused naming the file", err)
	}

	db, err = openDB(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc = newService(db, cfg, newLogger(io.Discard, "error"))
	got, err := svc.Catalog.StoreProducts(ctx, "S01")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, a := range got {
		names[a.SKU] = a.Name
	}
	if len(names) != 3 || names["XL-1"] != "鲜牛奶" || names["XL-2"] != "面包" || names["MILK"] != "牛奶" {
		t.Errorf("S01 offers %v, want XL-1 鲜牛奶, XL-2 面包 and MILK 牛奶", names)
	}
}
