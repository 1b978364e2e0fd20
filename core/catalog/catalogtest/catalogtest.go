// Package catalogtest builds import files as store staff have them, for tests: CSV in the GBK encoding
// Excel on Chinese Windows saves, and xlsx workbooks. It is imported only by tests.
package catalogtest

import (
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// GBK returns text encoded in GBK, as Excel on Chinese Windows saves "CSV".
func GBK(t testing.TB, text string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(text))
	if err != nil {
		t.Fatalf("encode %q as GBK: %v", text, err)
	}
	return b
}

// XLSX returns a workbook whose first sheet holds rows from A1 on; each value is written as Excel
// would store it (a number as a number, a string as text, nil as an empty cell).
func XLSX(t testing.TB, rows [][]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sheet := f.GetSheetName(0)
	for i, r := range rows {
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetSheetRow(sheet, cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
