package catalog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/text"
)

// ImportRowError is one row of an import file that was not applied, and why.
type ImportRowError struct {
	// Row is the line of a CSV file, or the row number of the sheet of a workbook.
	Row   int    `json:"row"`
	Error string `json:"error"`
}

// ImportReport says what an import did.
type ImportReport struct {
	// Format is how the file was read: "csv" or "xlsx".
	Format string `json:"format"`
	// Encoding is the text encoding a CSV file was read in: "utf-8" or "gb18030" (which covers GBK).
	Encoding string           `json:"encoding,omitempty"`
	Applied  int              `json:"applied"`
	Failed   int              `json:"failed"`
	Errors   []ImportRowError `json:"errors"`
}

// MaxImportRows is the most data rows one import takes.
const MaxImportRows = 100000

// Format is the format of an import file.
type Format string

// The formats Import reads.
const (
	// FormatAuto tells the format by the content: a zip archive (an xlsx workbook starts with "PK\x03\x04")
	// is read as a workbook, anything else as CSV.
	FormatAuto Format = ""
	// FormatCSV is comma-separated text in UTF-8 (with or without a byte order mark) or GB18030/GBK.
	FormatCSV Format = "csv"
	// FormatXLSX is an Office Open XML workbook, as Excel and WPS save it; its first sheet is read.
	FormatXLSX Format = "xlsx"
)

// importColumns are the columns an import file may have.
var importColumns = []string{"sku", "name", "price_fen", "store", "on_hand"}

// columnHints suggest the column a header that is not one probably meant.
var columnHints = map[string]string{
	"qty": "on_hand", "quantity": "on_hand", "stock": "on_hand", "onhand": "on_hand", "库存": "on_hand", "数量": "on_hand",
	"price": "price_fen", "价格": "price_fen", "售价": "price_fen", "单价": "price_fen",
	"名称": "name", "品名": "name", "商品名称": "name", "商品": "name",
	"store_code": "store", "门店": "store", "门店编码": "store",
	"barcode": "sku", "条码": "sku", "编码": "sku", "商品编码": "sku",
}

// excelNumber matches a code Excel has shown in scientific notation and saved so, its digits lost.
var excelNumber = regexp.MustCompile(`^[0-9](\.[0-9]+)?[eE]\+[0-9]+$`)

// sheetNumber matches a number as a workbook stores it.
var sheetNumber = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// Import applies a file of products and stock levels: CSV (UTF-8 with or without a byte order mark, or
// GB18030/GBK as Excel on Chinese Windows saves it) or an xlsx workbook (its first sheet), told apart by
// the content unless format says which it must be. The header row names the columns (any order, each
// once): sku (required), name and price_fen (together: create or update the product), store and on_hand
// (together: set the stock of sku at store). A file that cannot be read, or whose header names an unknown
// or repeated column, is refused whole and nothing is applied. Otherwise each row is applied in its own
// transaction, so a bad row never half-applies and never stops the good ones; the report lists every
// failed row by its line (CSV) or row number (workbook). Empty rows are skipped.
func (s *Service) Import(ctx context.Context, data []byte, format Format) (ImportReport, error) {
	p, err := parseImport(data, format)
	rep := ImportReport{Format: string(p.format), Encoding: p.encoding, Errors: []ImportRowError{}}
	if err != nil {
		return rep, err
	}
	for i, r := range p.rows {
		if err := ctx.Err(); err != nil { // the caller went away: stop, and say how far it got
			return rep, fmt.Errorf("import stopped after %d of %d rows (%d applied): %w", i, len(p.rows), rep.Applied, err)
		}
		err := r.err
		if err == nil {
			err = s.importItem(ctx, r.item)
		}
		if err != nil {
			var de *domain.Error
			msg := "internal error"
			if errors.As(err, &de) {
				msg = de.Msg
			} else {
				s.Log.ErrorContext(ctx, "import row failed", "row", r.row, "err", err)
			}
			rep.Failed++
			rep.Errors = append(rep.Errors, ImportRowError{Row: r.row, Error: msg})
			continue
		}
		rep.Applied++
	}
	return rep, nil
}

func (s *Service) importItem(ctx context.Context, it importItem) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		if it.Name != "" {
			if _, err := s.PutProduct(ctx, ProductInput{SKU: it.SKU, Name: it.Name, PriceFen: it.PriceFen}); err != nil {
				return err
			}
		}
		if it.Store != "" {
			if _, err := s.SetStock(ctx, it.Store, it.SKU, it.OnHand, "import"); err != nil {
				return fmt.Errorf("stock: %w", err)
			}
		}
		return nil
	})
}

// importItem is one row of an import file, read and checked: the product part is set when Name is, the
// stock part when Store is.
type importItem struct {
	SKU      string
	Name     string
	PriceFen int64
	Store    string
	OnHand   int64
}

// parsedImport is an import file read and checked, row by row, before anything is applied.
type parsedImport struct {
	format   Format
	encoding string
	rows     []parsedRow
}

// parsedRow is one non-empty data row: an item to apply, or the reason it cannot be.
type parsedRow struct {
	row  int
	item importItem
	err  error
}

// rawRow is one row of an import file as text, whatever the format.
type rawRow struct {
	row   int      // CSV line or sheet row number, from 1
	cells []string // the cells as text
	err   error    // why the row could not be read (a CSV quoting error), or nil
	sheet bool     // the row is from a workbook: cells are named like C4, numbers may read as 1290.0
}

// where names cell i of the row in a message: " in cell C4" for a workbook, "" for CSV (whose errors
// already carry the line).
func (r rawRow) where(i int) string {
	if !r.sheet {
		return ""
	}
	return " in cell " + cellName(i, r.row)
}

// column names header column i for a message: "cell C1" for a workbook, "column 3" for CSV.
func (r rawRow) column(i int) string {
	if r.sheet {
		return "cell " + cellName(i, r.row)
	}
	return "column " + strconv.Itoa(i+1)
}

// cellName returns the A1-style name of the cell in column i (from 0) of row (from 1).
func cellName(i, row int) string {
	col := ""
	for n := i + 1; n > 0; n = (n - 1) / 26 {
		col = string(rune('A'+(n-1)%26)) + col
	}
	return col + strconv.Itoa(row)
}

// rowSource yields the rows of an import file. next returns the next row that has any text in it; ok is
// false at the end; an error means the file cannot be read any further and nothing must be applied.
type rowSource interface {
	next() (r rawRow, ok bool, err error)
	close()
}

// parseImport reads and checks a whole import file without applying anything. The format (and the
// encoding of a CSV file) is set in the result even when the file is refused, as far as it was told.
func parseImport(data []byte, format Format) (parsedImport, error) {
	var out parsedImport
	isZip := strings.HasPrefix(string(data[:min(len(data), 4)]), "PK\x03\x04")
	if format == FormatAuto {
		format = FormatCSV
		if isZip {
			format = FormatXLSX
		}
	}
	out.format = format
	var src rowSource
	switch format {
	case FormatXLSX:
		if !isZip {
			return out, domain.Errf(domain.ErrInvalidArgument, "the file is not an xlsx workbook (it does not start as a zip archive does)")
		}
		x, err := openSheet(data)
		if err != nil {
			return out, err
		}
		src = x
	case FormatCSV:
		if isZip {
			return out, domain.Errf(domain.ErrInvalidArgument, "the file is a zip archive (an xlsx workbook?), not CSV")
		}
		text, enc, err := decodeText(data)
		out.encoding = enc
		if err != nil {
			return out, err
		}
		src = newCSVSource(text)
	default:
		return out, domain.Errf(domain.ErrInvalidArgument, "unknown import format %q: use csv or xlsx", format)
	}
	defer src.close()

	header, ok, err := src.next()
	if err != nil {
		return out, err
	}
	if !ok {
		return out, domain.Errf(domain.ErrInvalidArgument, "the file has no header row")
	}
	if header.err != nil {
		return out, domain.Errf(domain.ErrInvalidArgument, "the header row (line %d) cannot be read: %v", header.row, header.err)
	}
	cols, err := checkHeader(header)
	if err != nil {
		return out, err
	}
	for {
		r, ok, err := src.next()
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		if len(out.rows) == MaxImportRows {
			return out, domain.Errf(domain.ErrInvalidArgument, "the file has more than %d rows; split it", MaxImportRows)
		}
		item, err := checkRow(cols, r)
		out.rows = append(out.rows, parsedRow{row: r.row, item: item, err: err})
	}
}

// importCols is where each column is in the rows of a file (-1 when the file does not have it), and
// how many columns the header has.
type importCols struct {
	sku, name, price, store, onHand int
	width                           int
}

// checkHeader reads the header row: every column known and named once, sku present, name with
// price_fen and store with on_hand.
func checkHeader(h rawRow) (importCols, error) {
	cells := h.cells
	for len(cells) > 0 && strings.TrimSpace(cells[len(cells)-1]) == "" {
		cells = cells[:len(cells)-1] // Excel leaves trailing empty cells behind
	}
	at := map[string]int{}
	var problems []string
	for i, c := range cells {
		name := strings.ToLower(strings.TrimSpace(c))
		switch j, seen := at[name]; {
		case name == "":
			problems = append(problems, fmt.Sprintf("%s of the header is empty", h.column(i)))
		case !isImportColumn(name):
			p := fmt.Sprintf("unknown column %q (%s)", clip(c, 40), h.column(i))
			if hint, ok := columnHints[name]; ok {
				p += fmt.Sprintf(", did you mean %s?", hint)
			}
			problems = append(problems, p)
		case seen:
			problems = append(problems, fmt.Sprintf("column %q appears twice (%s and %s)", name, h.column(j), h.column(i)))
		default:
			at[name] = i
		}
	}
	if len(problems) > 0 {
		return importCols{}, domain.Errf(domain.ErrInvalidArgument, "nothing was imported: %s; the accepted columns are %s",
			strings.Join(problems, "; "), strings.Join(importColumns, ", "))
	}
	idx := func(name string) int {
		if i, ok := at[name]; ok {
			return i
		}
		return -1
	}
	cols := importCols{sku: idx("sku"), name: idx("name"), price: idx("price_fen"), store: idx("store"), onHand: idx("on_hand"), width: len(cells)}
	switch {
	case cols.sku < 0:
		return cols, domain.Errf(domain.ErrInvalidArgument, "nothing was imported: the header must name a sku column; the accepted columns are %s", strings.Join(importColumns, ", "))
	case (cols.name < 0) != (cols.price < 0):
		return cols, domain.Errf(domain.ErrInvalidArgument, "nothing was imported: the header must name both name and price_fen, or neither")
	case (cols.store < 0) != (cols.onHand < 0):
		return cols, domain.Errf(domain.ErrInvalidArgument, "nothing was imported: the header must name both store and on_hand, or neither")
	case cols.name < 0 && cols.store < 0:
		return cols, domain.Errf(domain.ErrInvalidArgument, "nothing was imported: the header must name name,price_fen or store,on_hand columns")
	}
	return cols, nil
}

func isImportColumn(name string) bool {
	for _, c := range importColumns {
		if c == name {
			return true
		}
	}
	return false
}

// checkRow turns one data row into an item, or says what is wrong with it, naming the field (and, in a
// workbook, the cell).
func checkRow(cols importCols, r rawRow) (importItem, error) {
	bad := func(format string, args ...any) (importItem, error) {
		return importItem{}, domain.Errf(domain.ErrInvalidArgument, format, args...)
	}
	if r.err != nil {
		return bad("%v", r.err)
	}
	for i := cols.width; i < len(r.cells); i++ {
		if strings.TrimSpace(r.cells[i]) != "" {
			return bad("%s has %q beyond the header's %d columns", r.column(i), clip(r.cells[i], 40), cols.width)
		}
	}
	get := func(i int) string {
		if i >= 0 && i < len(r.cells) {
			return strings.TrimSpace(r.cells[i])
		}
		return ""
	}
	fields := []struct {
		name string
		at   int
	}{{"sku", cols.sku}, {"name", cols.name}, {"price_fen", cols.price}, {"store", cols.store}, {"on_hand", cols.onHand}}
	for _, f := range fields {
		if err := text.Check(get(f.at), text.Printed); err != nil {
			return bad("%s%s %s", f.name, r.where(f.at), err)
		}
	}
	var it importItem
	it.SKU, it.Name, it.Store = get(cols.sku), get(cols.name), get(cols.store)
	price, onHand := get(cols.price), get(cols.onHand)
	switch {
	case it.SKU == "":
		return bad("sku%s is empty", r.where(cols.sku))
	case excelNumber.MatchString(it.SKU):
		return bad("sku %q%s is a number Excel shortened; format the column as text, or import the .xlsx", it.SKU, r.where(cols.sku))
	case !ValidSKU(it.SKU):
		return bad("sku %q%s must be 1-64 letters, digits, '.', '-' or '_'", clip(it.SKU, 70), r.where(cols.sku))
	case (it.Name == "") != (price == ""):
		return bad("name and price_fen go together")
	case (it.Store == "") != (onHand == ""):
		return bad("store and on_hand go together")
	case it.Name == "" && it.Store == "":
		return bad("the row sets nothing")
	case utf8.RuneCountInString(it.Name) > 200:
		return bad("name%s is longer than 200 characters", r.where(cols.name))
	}
	var ok bool
	if price != "" {
		if it.PriceFen, ok = wholeNumber(price, r.sheet); !ok {
			return bad("price_fen %q%s is not a whole number of fen", clip(price, 40), r.where(cols.price))
		}
		if it.PriceFen < 1 || it.PriceFen > MaxPriceFen {
			return bad("price_fen %d%s must be between 1 and %d", it.PriceFen, r.where(cols.price), MaxPriceFen)
		}
	}
	if onHand != "" {
		if it.OnHand, ok = wholeNumber(onHand, r.sheet); !ok {
			return bad("on_hand %q%s is not a whole number", clip(onHand, 40), r.where(cols.onHand))
		}
		if it.OnHand < 0 || it.OnHand > MaxOnHand {
			return bad("on_hand %d%s must be between 0 and %d", it.OnHand, r.where(cols.onHand), MaxOnHand)
		}
	}
	return it, nil
}

// wholeNumber reads an integer. A workbook stores every number as a float, so from a sheet a whole
// float (1290, 1290.0, 1.29E3) is taken too; 12.5 never is.
func wholeNumber(s string, sheet bool) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if !sheet || !sheetNumber.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// clip shortens s to at most n characters for a message, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
