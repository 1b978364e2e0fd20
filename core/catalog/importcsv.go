package catalog

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/o2ohub/o2ohub/core/domain"
)

// ImportRowError is one CSV row that was not applied, and why.
type ImportRowError struct {
	Row   int    `json:"row"`
	Error string `json:"error"`
}

// ImportReport says what a CSV import did.
type ImportReport struct {
	Applied int              `json:"applied"`
	Failed  int              `json:"failed"`
	Errors  []ImportRowError `json:"errors"`
}

// MaxImportRows is the most data rows one import takes.
const MaxImportRows = 100000

// ImportCSV applies a CSV of products and stock levels. The header names the columns (any order): sku
// (required), name and price_fen (together: create or update the product), store and on_hand (together:
// set the stock of sku at store). Each row is applied in its own transaction, so a bad row never
// half-applies and never stops the good ones; the report lists every failed row by its line number.
func (s *Service) ImportCSV(ctx context.Context, data []byte) (ImportReport, error) {
	rep := ImportReport{Errors: []ImportRowError{}}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return rep, domain.Errf(domain.ErrInvalidArgument, "the CSV has no header row")
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := col["sku"]; !ok {
		return rep, domain.Errf(domain.ErrInvalidArgument, "the CSV header must name a sku column")
	}
	_, hasName := col["name"]
	_, hasStore := col["store"]
	if !hasName && !hasStore {
		return rep, domain.Errf(domain.ErrInvalidArgument, "the CSV header must name name,price_fen or store,on_hand columns")
	}
	for rows := 1; ; rows++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var row int
		if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
			row = pe.StartLine
		} else {
			row, _ = r.FieldPos(0) // the line the record starts on, blank lines counted
		}
		if rows > MaxImportRows {
			return rep, domain.Errf(domain.ErrInvalidArgument, "the CSV has more than %d rows", MaxImportRows)
		}
		if err == nil {
			err = s.importRow(ctx, col, rec)
		}
		if err != nil {
			var de *domain.Error
			msg := "internal error"
			if errors.As(err, &de) {
				msg = de.Msg
			} else if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
				msg = pe.Err.Error()
			} else {
				s.Log.ErrorContext(ctx, "import row failed", "row", row, "err", err)
			}
			rep.Failed++
			rep.Errors = append(rep.Errors, ImportRowError{Row: row, Error: msg})
			continue
		}
		rep.Applied++
	}
	return rep, nil
}

func (s *Service) importRow(ctx context.Context, col map[string]int, rec []string) error {
	get := func(name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	sku, name, price, store, onHand := get("sku"), get("name"), get("price_fen"), get("store"), get("on_hand")
	if sku == "" {
		return domain.Errf(domain.ErrInvalidArgument, "sku is empty")
	}
	if (name == "") != (price == "") {
		return domain.Errf(domain.ErrInvalidArgument, "name and price_fen go together")
	}
	if (store == "") != (onHand == "") {
		return domain.Errf(domain.ErrInvalidArgument, "store and on_hand go together")
	}
	if name == "" && store == "" {
		return domain.Errf(domain.ErrInvalidArgument, "the row sets nothing")
	}
	var priceFen, qty int64
	var err error
	if price != "" {
		if priceFen, err = strconv.ParseInt(price, 10, 64); err != nil {
			return domain.Errf(domain.ErrInvalidArgument, "price_fen %q is not a whole number of fen", price)
		}
	}
	if onHand != "" {
		if qty, err = strconv.ParseInt(onHand, 10, 64); err != nil {
			return domain.Errf(domain.ErrInvalidArgument, "on_hand %q is not a whole number", onHand)
		}
	}
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		if name != "" {
			if _, err := s.PutProduct(ctx, ProductInput{SKU: sku, Name: name, PriceFen: priceFen}); err != nil {
				return err
			}
		}
		if store != "" {
			if _, err := s.SetStock(ctx, store, sku, qty, "import"); err != nil {
				return fmt.Errorf("stock: %w", err)
			}
		}
		return nil
	})
}
