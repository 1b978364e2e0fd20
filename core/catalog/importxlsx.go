package catalog

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/o2ohub/o2ohub/core/domain"
)

// MaxImportUnzipped is the most a workbook may unpack to (all its parts together); a workbook of
// MaxImportRows rows is a fraction of it. The sizes a zip archive declares are the ones checked, and
// reading a part fails when it holds more than declared, so a zip bomb is refused before it is inflated.
const MaxImportUnzipped = 64 << 20

// maxSharedStrings is the most distinct texts a workbook may hold: one for each text cell of
// MaxImportRows rows of sku, name and store. The library reads them all at once, a few hundred bytes
// each however short, so this (not the bytes) bounds the memory a small file could make it take.
const maxSharedStrings = 3 * MaxImportRows

// maxOtherPart is the most any XML part besides the sheets and their texts may unpack to (styles, the
// formula chain, the theme …: a few kilobytes in a real workbook), since the library reads each whole,
// into structures a few hundred bytes each for every few bytes of XML.
const maxOtherPart = 1 << 20

// maxImportCells is the most cells the rows of a sheet may spread over (counting the empty ones left of
// a cell), so a sheet of far-right cells cannot make reading it slow.
const maxImportCells = 4 * 1024 * 1024

// sheetSource reads the first sheet of a workbook, row by row, cells as the text they store (numbers
// unformatted, the cached value of a formula).
type sheetSource struct {
	f     *excelize.File
	rows  *excelize.Rows
	row   int
	cells int
}

// openSheet opens a workbook and its first sheet, or says why it cannot, nothing applied.
func openSheet(data []byte) (s *sheetSource, err error) {
	defer func() {
		// The workbook is outside input; whatever the library does with a malformed one, refuse it.
		if p := recover(); p != nil {
			s, err = nil, domain.Errf(domain.ErrInvalidArgument, "the xlsx workbook is damaged and cannot be read")
		}
	}()
	if err := checkWorkbookParts(data); err != nil {
		return nil, err
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		RawCellValue:      true,
		UnzipSizeLimit:    MaxImportUnzipped,
		UnzipXMLSizeLimit: MaxImportUnzipped, // everything in memory: no temporary files
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, workbookError(err)
	}
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		f.Close()
		return nil, domain.Errf(domain.ErrInvalidArgument, "the xlsx workbook has no sheet")
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		f.Close()
		return nil, workbookError(err)
	}
	return &sheetSource{f: f, rows: rows}, nil
}

// checkWorkbookParts looks at the parts of a workbook before the library reads them, so that a small
// file that unpacks to much, or to more texts or styles than an import needs, is refused first.
func checkWorkbookParts(data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return workbookError(err)
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		name := strings.ToLower(strings.ReplaceAll(f.Name, "\\", "/"))
		switch {
		case total > MaxImportUnzipped:
			return domain.Errf(domain.ErrInvalidArgument, "the xlsx workbook unpacks to more than %d MiB; nothing was imported", MaxImportUnzipped>>20)
		case strings.HasPrefix(name, "xl/worksheets/sheet"):
		case name == "xl/sharedstrings.xml":
			if err := countSharedStrings(f); err != nil {
				return err
			}
		case f.UncompressedSize64 > maxOtherPart && (strings.HasSuffix(name, ".xml") || strings.HasSuffix(name, ".rels")):
			return domain.Errf(domain.ErrInvalidArgument, "the xlsx workbook's part %q unpacks to more than %d MiB; save the sheet alone in a new workbook; nothing was imported", clip(f.Name, 60), maxOtherPart>>20)
		}
	}
	return nil
}

// countSharedStrings refuses a table of texts with more than maxSharedStrings entries, reading it as a
// stream.
func countSharedStrings(f *zip.File) error {
	rc, err := f.Open()
	if err != nil {
		return workbookError(err)
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	for n := 0; ; {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return workbookError(fmt.Errorf("the table of texts: %w", err))
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "si" {
			if n++; n > maxSharedStrings {
				return domain.Errf(domain.ErrInvalidArgument, "the xlsx workbook holds more than %d distinct texts; nothing was imported", maxSharedStrings)
			}
		}
	}
}

func workbookError(err error) error {
	if err.Error() == fmt.Sprintf("unzip size exceeds the %d bytes limit", MaxImportUnzipped) {
		return domain.Errf(domain.ErrInvalidArgument, "the xlsx workbook unpacks to more than %d MiB; nothing was imported", MaxImportUnzipped>>20)
	}
	if errors.Is(err, excelize.ErrWorkbookPassword) {
		return domain.Errf(domain.ErrInvalidArgument, "the xlsx workbook has a password; save it without one; nothing was imported")
	}
	return domain.Errf(domain.ErrInvalidArgument, "the file is a zip archive but not a readable xlsx workbook (%v); save it again from Excel as .xlsx; nothing was imported", err)
}

func (s *sheetSource) next() (r rawRow, ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, ok, err = rawRow{}, false, domain.Errf(domain.ErrInvalidArgument, "the xlsx workbook is damaged near row %d and cannot be read", s.row+1)
		}
	}()
	for s.rows.Next() {
		s.row++
		cells, err := s.rows.Columns()
		if err != nil {
			return rawRow{}, false, domain.Errf(domain.ErrInvalidArgument, "row %d of the sheet cannot be read: %v", s.row, err)
		}
		s.cells += len(cells)
		if s.cells > maxImportCells {
			return rawRow{}, false, domain.Errf(domain.ErrInvalidArgument, "the sheet spreads over more than %d cells", maxImportCells)
		}
		if !blank(cells) {
			return rawRow{row: s.row, cells: cells, sheet: true}, true, nil
		}
	}
	if err := s.rows.Error(); err != nil {
		return rawRow{}, false, domain.Errf(domain.ErrInvalidArgument, "the sheet cannot be read after row %d: %v", s.row, err)
	}
	return rawRow{}, false, nil
}

func (s *sheetSource) close() {
	s.rows.Close()
	s.f.Close()
}
