package catalog_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/catalog/catalogtest"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// importEnv is a catalog with stores S01 and S02 and nothing else.
type importEnv struct {
	svc *catalog.Service
	db  *models.DB
	ctx context.Context
}

func newImportEnv(t testing.TB, db *models.DB) importEnv {
	t.Helper()
	e := importEnv{svc: catalog.New(domain.NewEnv(db, nil, slog.New(slog.DiscardHandler))), db: db, ctx: context.Background()}
	for _, code := range []string{"S01", "S02"} {
		if _, err := e.svc.PutStore(e.ctx, catalog.StoreInput{Code: code, Name: "店 " + code, Lat: 31.2, Lng: 121.4}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// catalogState is every product (sku → "name price") and stock level (store/sku → on hand).
type catalogState struct {
	products map[string]string
	stock    map[string]int64
}

func (e importEnv) state(t testing.TB) catalogState {
	t.Helper()
	var ps []models.Product
	if err := e.db.Conn(e.ctx).Find(&ps).Error; err != nil {
		t.Fatal(err)
	}
	st := catalogState{products: map[string]string{}, stock: map[string]int64{}}
	for _, p := range ps {
		st.products[p.SKU] = p.Name + " " + strconv.FormatInt(p.PriceFen, 10)
		for _, store := range []string{"S01", "S02"} {
			if v, err := e.svc.Stock(e.ctx, store, p.SKU); err == nil && v.OnHand > 0 {
				st.stock[store+"/"+p.SKU] = v.OnHand
			}
		}
	}
	return st
}

// wantRefused checks that err is an invalid-argument error whose message has every part, and that
// nothing was applied.
func (e importEnv) wantRefused(t testing.TB, err error, parts ...string) {
	t.Helper()
	if !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("err = %v, want invalid argument", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
	if st := e.state(t); len(st.products) != 0 {
		t.Errorf("a refused file applied products %v", st.products)
	}
}

const chineseCSV = "sku,name,price_fen,store,on_hand\r\n" +
	"MILK-1L,牛奶,1590,S01,40\r\n" +
	"SPEC-500,规格 500g×2（盒装）,990,S02,3\r\n" +
	"EGG-10,土鸡蛋 10枚,1980,,\r\n"

var chineseState = catalogState{
	products: map[string]string{"MILK-1L": "牛奶 1590", "SPEC-500": "规格 500g×2（盒装） 990", "EGG-10": "土鸡蛋 10枚 1980"},
	stock:    map[string]int64{"S01/MILK-1L": 40, "S02/SPEC-500": 3},
}

func sameState(t testing.TB, got, want catalogState) {
	t.Helper()
	if len(got.products) != len(want.products) || len(got.stock) != len(want.stock) {
		t.Fatalf("catalog = %+v, want %+v", got, want)
	}
	for k, v := range want.products {
		if got.products[k] != v {
			t.Errorf("product %s = %q, want %q", k, got.products[k], v)
		}
	}
	for k, v := range want.stock {
		if got.stock[k] != v {
			t.Errorf("stock %s = %d, want %d", k, got.stock[k], v)
		}
	}
}

// TestImportReadsChineseCSV imports the same rows saved as Excel on Chinese Windows saves "CSV" (GBK),
// as GB18030, and as UTF-8 with and without a byte order mark: each gives the same names.
func TestImportReadsChineseCSV(t *testing.T) {
	gb18030, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(chineseCSV))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, enc string
		data      []byte
	}{
		{"gbk", "gb18030", catalogtest.GBK(t, chineseCSV)},
		{"gb18030", "gb18030", gb18030},
		{"utf-8", "utf-8", []byte(chineseCSV)},
		{"utf-8 with bom", "utf-8", append([]byte("\xef\xbb\xbf"), chineseCSV...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dbtest.Each(t, func(t testing.TB, db *models.DB) {
				e := newImportEnv(t, db)
				rep, err := e.svc.Import(e.ctx, c.data, catalog.FormatAuto)
				if err != nil || rep.Applied != 3 || rep.Failed != 0 {
					t.Fatalf("report %+v, %v; want 3 applied", rep, err)
				}
				if rep.Format != "csv" || rep.Encoding != c.enc {
					t.Errorf("read as %s in %s, want csv in %s", rep.Format, rep.Encoding, c.enc)
				}
				sameState(t, e.state(t), chineseState)
			})
		})
	}
}

// TestImportRefusesUnreadableText refuses, whole and naming the line, text that is neither UTF-8 nor
// GB18030, UTF-8 with a broken line, a NUL, and UTF-16 and .xls files.
func TestImportRefusesUnreadableText(t *testing.T) {
	cases := []struct {
		name  string
		data  string
		parts []string
	}{
		{"neither", "sku,name,price_fen\nA1,ok,100\nA2,caf\xff\xfe,100\n", []string{"line 3", "neither UTF-8 nor GB18030"}},
		{"utf-8 with a bad line", "sku,name,price_fen\nA1,牛奶,100\nA2,鸡蛋,100\nA3,bad \xe7\x89,100\nA4,面包,100\n", []string{"line 4", "not valid UTF-8"}},
		{"bom and a bad byte", "\xef\xbb\xbfsku,name,price_fen\nA1,\xb9\xfb,100\n", []string{"line 2", "not valid UTF-8"}},
		{"nul", "sku,name,price_fen\nA1,ok,100\nA2,b\x00d,100\n", []string{"line 3", "NUL"}},
		{"utf-16", "\xff\xfes\x00k\x00u\x00", []string{"UTF-16"}},
		{"xls", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", []string{".xls"}},
	}
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newImportEnv(t, db)
		for _, c := range cases {
			_, err := e.svc.Import(e.ctx, []byte(c.data), catalog.FormatAuto)
			t.Logf("%s: %v", c.name, err)
			e.wantRefused(t, err, c.parts...)
		}
	})
}

// TestImportRefusesUnknownColumns refuses a header with a column the import does not know (qty for
// on_hand), an empty or a repeated one, naming it and the accepted columns, with nothing applied.
func TestImportRefusesUnknownColumns(t *testing.T) {
	cases := []struct {
		name, csv string
		parts     []string
	}{
		{"qty", "sku,name,price_fen,store,qty\nMILK,牛奶,1590,S01,40\n", []string{`"qty"`, "column 5", "did you mean on_hand", "sku, name, price_fen, store, on_hand"}},
		{"chinese", "sku,品名,price_fen\nMILK,牛奶,1590\n", []string{`"品名"`, "did you mean name"}},
		{"repeated", "sku,name,price_fen,SKU\nMILK,牛奶,1590,EGG\n", []string{`"sku" appears twice`, "column 1 and column 4"}},
		{"empty", "sku,,name,price_fen\nMILK,x,牛奶,1590\n", []string{"column 2 of the header is empty"}},
		{"name without price", "sku,name,store,on_hand\nMILK,牛奶,S01,4\n", []string{"name and price_fen"}},
	}
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newImportEnv(t, db)
		for _, c := range cases {
			_, err := e.svc.Import(e.ctx, []byte(c.csv), catalog.FormatAuto)
			t.Logf("%s: %v", c.name, err)
			e.wantRefused(t, err, c.parts...)
		}
		// Trailing empty header cells (Excel leaves them) are no column; a value under one is refused.
		rep, err := e.svc.Import(e.ctx, []byte("sku,name,price_fen,,\nMILK,牛奶,1590,,\nEGG,蛋,100,,lost\n"), catalog.FormatAuto)
		if err != nil || rep.Applied != 1 || rep.Failed != 1 || !strings.Contains(rep.Errors[0].Error, "column 5") {
			t.Fatalf("report %+v, %v; want MILK applied and EGG refused for its column 5", rep, err)
		}
	})
}

// importRows are chineseCSV's rows as a sheet holds them: numbers as numbers, a barcode too.
var importRows = [][]any{
	{"sku", "name", "price_fen", "store", "on_hand"},
	{"MILK-1L", "牛奶", 1590, "S01", 40.0},
	{"SPEC-500", "规格 500g×2（盒装）", 990.0, "S02", 3},
	{},
	{"EGG-10", "土鸡蛋 10枚", "1980", nil, nil},
}

// TestImportXLSX imports a workbook (numbers as numbers, an empty row) to the same catalog as the same
// rows in CSV, keeps a barcode's digits, and refuses a bad cell naming it while applying the rest.
func TestImportXLSX(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newImportEnv(t, db)
		rep, err := e.svc.Import(e.ctx, catalogtest.XLSX(t, importRows), catalog.FormatAuto)
		if err != nil || rep.Applied != 3 || rep.Failed != 0 || rep.Format != "xlsx" {
			t.Fatalf("report %+v, %v; want 3 rows applied from xlsx", rep, err)
		}
		sameState(t, e.state(t), chineseState)

		rows := [][]any{
			{"SKU", "Name", "Price_Fen", "Store", "On_Hand"},
			{6901234567890, "条码商品", 500, "S01", 1},
			{"BAD-PRICE", "半价", 12.5, "S01", 1},
			{"BAD-QTY", "库存", 100, "S01", "十"},
			{"BAD-SKU", "过大", 100, "S01", 1e12},
		}
		rep, err = e.svc.Import(e.ctx, catalogtest.XLSX(t, rows), catalog.FormatXLSX)
		if err != nil || rep.Applied != 1 || rep.Failed != 3 {
			t.Fatalf("report %+v, %v; want the barcode row applied and three refused", rep, err)
		}
		want := []struct {
			row   int
			parts []string
		}{{3, []string{"price_fen", "12.5", "cell C3"}}, {4, []string{"on_hand", "十", "cell E4"}}, {5, []string{"on_hand", "cell E5", "between"}}}
		for i, w := range want {
			got := rep.Errors[i]
			if got.Row != w.row {
				t.Errorf("error %d = %+v, want row %d", i, got, w.row)
			}
			for _, p := range w.parts {
				if !strings.Contains(got.Error, p) {
					t.Errorf("error %d %q does not mention %q", i, got.Error, p)
				}
			}
		}
		t.Logf("bad cells: %+v", rep.Errors)
		if p, err := e.svc.ProductBySKU(e.ctx, "6901234567890"); err != nil || p.Name != "条码商品" {
			t.Errorf("the barcode product = %+v, %v", p, err)
		}
	})
}

// TestImportRefusesBrokenWorkbooks refuses, cleanly and with nothing applied, a corrupt zip, a cut-off
// workbook, a zip that is no workbook, a zip bomb, and CSV sent as a workbook.
func TestImportRefusesBrokenWorkbooks(t *testing.T) {
	good := catalogtest.XLSX(t, importRows)
	cases := []struct {
		name   string
		data   []byte
		format catalog.Format
		parts  []string
	}{
		{"corrupt zip", []byte("PK\x03\x04 this is not really a zip archive"), catalog.FormatAuto, []string{"xlsx"}},
		{"cut off", good[:len(good)/2], catalog.FormatAuto, []string{"xlsx"}},
		{"zip without a workbook", zipOf(t, "hello.txt", 10), catalog.FormatAuto, []string{"xlsx"}},
		{"zip bomb", zipOf(t, "xl/worksheets/sheet1.xml", catalog.MaxImportUnzipped+1), catalog.FormatAuto, []string{"more than 64 MiB"}},
		{"too many texts", withPart(t, good, "xl/sharedStrings.xml", sst+strings.Repeat("<si><t>x</t></si>", 3*catalog.MaxImportRows+1)+"</sst>"), catalog.FormatAuto, []string{"more than 300000 distinct texts"}},
		{"styles too big", withPart(t, good, "xl/styles.xml", styles+strings.Repeat("<xf/>", 1<<20/5)+"</cellXfs></styleSheet>"), catalog.FormatAuto, []string{`"xl/styles.xml"`, "more than 1 MiB"}},
		{"csv sent as xlsx", []byte(chineseCSV), catalog.FormatXLSX, []string{"not an xlsx workbook"}},
		{"xlsx sent as csv", good, catalog.FormatCSV, []string{"not CSV"}},
	}
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newImportEnv(t, db)
		for _, c := range cases {
			_, err := e.svc.Import(e.ctx, c.data, c.format)
			t.Logf("%s: %v", c.name, err)
			e.wantRefused(t, err, c.parts...)
		}
	})
}

const (
	sst    = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`
	styles = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs>`
)

// withPart returns the workbook xlsx with its part name replaced by content: a few kilobytes of zip that
// a library reading it whole would turn into hundreds of megabytes.
func withPart(t testing.TB, xlsx []byte, name, content string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(xlsx), int64(len(xlsx)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			io.WriteString(w, content)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(w, rc)
		rc.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipOf returns a zip archive of one file of n zero bytes (which compresses to almost nothing).
func zipOf(t testing.TB, name string, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(w, zeros{}, n); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestImportStopsWhenItsCallerGoesAway: an import whose request is cancelled stops at the next row
// instead of logging every remaining row as failed.
func TestImportStopsWhenItsCallerGoesAway(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		svc := catalog.New(domain.NewEnv(db, nil, nil))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rep, err := svc.Import(ctx, []byte("sku,name,price_fen\nA-1,甲,100\nB-1,乙,200\n"), catalog.FormatCSV)
		if !errors.Is(err, context.Canceled) || rep.Applied != 0 || rep.Failed != 0 {
			t.Fatalf("cancelled import = %+v, %v; want it stopped before any row", rep, err)
		}
	})
}
