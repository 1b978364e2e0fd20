package catalog

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/catalog/catalogtest"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/text"
)

// FuzzParseImport feeds the import parser arbitrary files, seeded with the CSV (UTF-8, BOM, GBK, broken)
// and xlsx files of the tests. The parser must never panic; it refuses a file only with an
// invalid-argument error; and whatever rows it accepts are well-formed and come back unchanged when
// written out again as UTF-8 CSV and as a workbook and read back.
//
// Run longer with: go test ./core/catalog -run '^$' -fuzz FuzzParseImport -fuzztime 5m
func FuzzParseImport(f *testing.F) {
	const good = "sku,name,price_fen,store,on_hand\r\nMILK-1L,牛奶,1590,S01,40\r\nSPEC-500,规格 500g×2（盒装）,990,S02,3\r\nEGG-10,土鸡蛋 10枚,1980,,\r\n"
	for _, s := range []string{
		good,
		"\xef\xbb\xbf" + good,
		"SKU, Store ,On_Hand\r\nG1,S01,7\r\nG2,S01,0\r\n",
		"sku,name,price_fen\nA\"1,bad,100\nOK1,好,100\n",
		"sku,name,price_fen,store,qty\nMILK,牛奶,1590,S01,40\n",
		"sku,name,price_fen,,\nMILK,牛奶,1590,,\nEGG,蛋,100,,lost\n",
		"sku,name,price_fen\nA1,ok,100\nA2,caf\xff\xfe,100\n",
		"sku,name,price_fen\nA1,牛奶,100\nA3,bad \xe7\x89,100\n",
		"sku,name,price_fen\n6.90123E+12,条码,100\n,,\n\nB,x,12.5\n",
		"PK\x03\x04 this is not really a zip archive",
	} {
		f.Add([]byte(s))
	}
	f.Add(catalogtest.GBK(f, good))
	f.Add(catalogtest.XLSX(f, [][]any{
		{"sku", "name", "price_fen", "store", "on_hand"},
		{"MILK-1L", "牛奶", 1590, "S01", 40.0},
		{},
		{6901234567890, "条码商品", "1980", nil, nil},
		{"BAD", "半价", 12.5, "S01", "十"},
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseImport(data, FormatAuto)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalidArgument) {
				t.Fatalf("refused with %v, want an invalid-argument error", err)
			}
			return
		}
		items := acceptedItems(t, p)
		if len(items) == 0 {
			return
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		sheet := [][]any{{"sku", "name", "price_fen", "store", "on_hand"}}
		w.Write([]string{"sku", "name", "price_fen", "store", "on_hand"})
		for _, it := range items {
			price, onHand := "", ""
			var priceCell, onHandCell any
			if it.Name != "" {
				price, priceCell = strconv.FormatInt(it.PriceFen, 10), it.PriceFen
			}
			if it.Store != "" {
				onHand, onHandCell = strconv.FormatInt(it.OnHand, 10), it.OnHand
			}
			w.Write([]string{it.SKU, it.Name, price, it.Store, onHand})
			sheet = append(sheet, []any{it.SKU, it.Name, priceCell, it.Store, onHandCell})
		}
		w.Flush()
		for name, again := range map[string][]byte{"csv": buf.Bytes(), "xlsx": catalogtest.XLSX(t, sheet)} {
			q, err := parseImport(again, FormatAuto)
			if err != nil {
				t.Fatalf("the accepted rows written as %s are refused: %v", name, err)
			}
			back := acceptedItems(t, q)
			if len(back) != len(items) || len(q.rows) != len(items) {
				t.Fatalf("%d rows accepted, %d of %d come back from %s", len(items), len(back), len(q.rows), name)
			}
			for i := range items {
				if back[i] != items[i] {
					t.Fatalf("row %d is %+v, and %+v after a round trip through %s", i, items[i], back[i], name)
				}
			}
		}
	})
}

// acceptedItems checks the rows of a parsed file (in order, each either an item or an invalid-argument
// error) and returns the accepted items, each of which must be well-formed.
func acceptedItems(t *testing.T, p parsedImport) []importItem {
	t.Helper()
	var items []importItem
	last := 0
	for _, r := range p.rows {
		if r.row <= last {
			t.Fatalf("row %d comes after row %d", r.row, last)
		}
		last = r.row
		if r.err != nil {
			if !errors.Is(r.err, domain.ErrInvalidArgument) {
				t.Fatalf("row %d refused with %v, want an invalid-argument error", r.row, r.err)
			}
			continue
		}
		it := r.item
		switch {
		case !ValidSKU(it.SKU):
			t.Fatalf("row %d: accepted sku %q", r.row, it.SKU)
		case it.Name == "" && it.Store == "":
			t.Fatalf("row %d: accepted a row that sets nothing", r.row)
		case !utf8.ValidString(it.Name) || text.Check(it.Name, text.Printed) != nil || text.Check(it.Store, text.Printed) != nil:
			t.Fatalf("row %d: accepted text %q / %q", r.row, it.Name, it.Store)
		case it.Name != "" && (it.PriceFen < 1 || it.PriceFen > MaxPriceFen):
			t.Fatalf("row %d: accepted price %d", r.row, it.PriceFen)
		case it.Store != "" && (it.OnHand < 0 || it.OnHand > MaxOnHand):
			t.Fatalf("row %d: accepted on_hand %d", r.row, it.OnHand)
		}
		items = append(items, it)
	}
	return items
}
