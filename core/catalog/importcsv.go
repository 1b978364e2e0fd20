package catalog

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/o2ohub/o2ohub/core/domain"
)

// The encodings decodeText tells apart.
const (
	encUTF8    = "utf-8"
	encGB18030 = "gb18030"
)

// decodeText returns a CSV file as UTF-8 text, and the encoding it was in. Valid UTF-8 is UTF-8 (a byte
// order mark is dropped). Anything else is read as GB18030, the superset of GBK that Excel on Chinese
// Windows writes when it saves "CSV", unless it looks like UTF-8 with a few bad bytes (a byte order mark,
// or more lines of valid multi-byte UTF-8 than lines that are not). Text that is neither is refused,
// naming its first bad line, and so is a NUL character: nothing of such a file is applied.
func decodeText(data []byte) (string, string, error) {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		return "", "", domain.Errf(domain.ErrInvalidArgument, `the file is UTF-16 text (Excel's "Unicode text"); save it as "CSV UTF-8" or as an .xlsx workbook`)
	case bytes.HasPrefix(data, []byte("\xd0\xcf\x11\xe0")):
		return "", "", domain.Errf(domain.ErrInvalidArgument, "the file is an old .xls workbook (or an encrypted one); save it as an .xlsx workbook without a password, or as CSV")
	}
	bom := bytes.HasPrefix(data, []byte("\xef\xbb\xbf"))
	body := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if utf8.Valid(body) {
		return checkNUL(string(body), encUTF8)
	}
	lines := bytes.SplitAfter(body, []byte("\n"))
	firstBad, good, bad := 0, 0, 0
	for i, l := range lines {
		switch {
		case !utf8.Valid(l):
			bad++
			if firstBad == 0 {
				firstBad = i + 1
			}
		case hasNonASCII(l):
			good++
		}
	}
	if bom || good > bad {
		return "", encUTF8, domain.Errf(domain.ErrInvalidArgument, `line %d is not valid UTF-8 text, though the rest of the file is; nothing was imported`, firstBad)
	}
	dec := simplifiedchinese.GB18030.NewDecoder()
	enc := simplifiedchinese.GB18030.NewEncoder()
	var out strings.Builder
	out.Grow(len(body) * 3 / 2)
	for i, l := range lines {
		u, err := dec.Bytes(l)
		if err == nil && bytes.ContainsRune(u, utf8.RuneError) {
			// The decoder turns bytes it cannot read into U+FFFD; a genuine U+FFFD survives the way back.
			var back []byte
			back, err = enc.Bytes(u)
			if err == nil && !bytes.Equal(back, l) {
				err = errors.New("not GB18030")
			}
		}
		if err != nil {
			return "", "", domain.Errf(domain.ErrInvalidArgument, `line %d is neither UTF-8 nor GB18030/GBK text; save the file as "CSV UTF-8" or as an .xlsx workbook; nothing was imported`, i+1)
		}
		out.Write(u)
	}
	return checkNUL(out.String(), encGB18030)
}

func hasNonASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// checkNUL refuses text with a NUL character, naming its line: no field may hold one, and a binary file
// read as text is full of them.
func checkNUL(text, enc string) (string, string, error) {
	if i := strings.IndexByte(text, 0); i >= 0 {
		line := strings.Count(text[:i], "\n") + 1
		return "", enc, domain.Errf(domain.ErrInvalidArgument, "line %d contains a NUL character (is the file binary?); nothing was imported", line)
	}
	return text, enc, nil
}

// csvSource reads the rows of CSV text. A row the reader cannot parse (a stray quote) is a row with an
// error, and reading goes on at the next line.
type csvSource struct {
	r *csv.Reader
}

func newCSVSource(text string) *csvSource {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	return &csvSource{r: r}
}

func (s *csvSource) next() (rawRow, bool, error) {
	for {
		rec, err := s.r.Read()
		if errors.Is(err, io.EOF) {
			return rawRow{}, false, nil
		}
		if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
			return rawRow{row: pe.StartLine, err: pe.Err}, true, nil
		}
		if err != nil {
			return rawRow{}, false, domain.Errf(domain.ErrInvalidArgument, "the CSV cannot be read: %v", err)
		}
		line, _ := s.r.FieldPos(0) // the line the record starts on, blank lines counted
		if !blank(rec) {
			return rawRow{row: line, cells: rec}, true, nil
		}
	}
}

func (s *csvSource) close() {}

// blank reports whether a row has no text in any cell (Excel saves empty rows as ",,,").
func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
