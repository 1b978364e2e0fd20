package text

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FieldError is text refused in a JSON document: the JSON path of the string and what is wrong with it.
type FieldError struct {
	// Path names the string as a client wrote it: "name", "items[0].sku", "address.text"; "" is the
	// document itself (a bare string). A problem in a member's name is reported at that member's path.
	Path string
	Err  *Error
}

// Error names the field and says what is wrong with it.
func (e *FieldError) Error() string {
	if e.Path == "" {
		return "request body " + e.Err.Error()
	}
	return fmt.Sprintf("field %q %s", e.Path, e.Err)
}

// Unwrap returns the *Error.
func (e *FieldError) Unwrap() error { return e.Err }

// frame is one open object or array of the document being walked.
type frame struct {
	object bool
	path   string
	// key is the member being read (objects) or the member that holds the array (arrays): what kindOf
	// is asked about.
	key string
	// wantKey says the next token of an object is a member name.
	wantKey bool
	index   int
}

// CheckJSON applies Check to every string of a JSON document, member names (as Free text) and values
// (as kindOf says for the name of the member that holds them, an array's elements taking its member's
// name; the top level is asked about ""), before it is decoded: encoding/json silently turns bytes that
// are not UTF-8, and escapes of lone surrogates, into U+FFFD, so they can only be seen in the raw
// document. It returns the first problem as a *FieldError. A document that is not JSON is not its
// concern: it stops at the first syntax error and returns nil, for the decoder to report.
func CheckJSON(doc []byte, kindOf func(key string) Kind) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var stack []*frame
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or a syntax error the decoder will report
		}
		raw := doc[start:dec.InputOffset()]
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				next(stack[len(stack)-1])
			}
			continue
		}
		if top != nil && top.object && top.wantKey {
			name, _ := tok.(string)
			path := join(top.path, name)
			if p := checkToken(raw, name, Free); p != nil {
				return &FieldError{Path: path, Err: p}
			}
			top.key, top.wantKey = name, false
			continue
		}
		path, key := "", ""
		if top != nil {
			key = top.key
			if top.object {
				path = join(top.path, top.key)
			} else {
				path = top.path + "[" + strconv.Itoa(top.index) + "]"
			}
		}
		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			stack = append(stack, &frame{object: v == '{', path: path, key: key, wantKey: v == '{'})
			continue
		case string:
			if p := checkToken(raw, v, kindOf(key)); p != nil {
				return &FieldError{Path: path, Err: p}
			}
		}
		if top != nil {
			next(top)
		}
	}
}

// next moves an object or array past the value just read.
func next(f *frame) {
	if f.object {
		f.wantKey = true
	} else {
		f.index++
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkToken checks one string token: raw is its bytes as written, s as decoded.
func checkToken(raw []byte, s string, k Kind) *Error {
	if !utf8.Valid(raw) || strings.Count(s, "\uFFFD") > writtenReplacements(raw) {
		return &Error{Problem: InvalidUTF8}
	}
	if err := Check(s, k); err != nil {
		return err.(*Error)
	}
	return nil
}

// writtenReplacements counts the U+FFFD characters a raw JSON string token holds as written (the
// character itself, or its \ufffd escape): any more in the decoded string stand for lone surrogates.
func writtenReplacements(raw []byte) int {
	n := bytes.Count(raw, []byte("\uFFFD"))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] == 'u' && i+6 <= len(raw) && strings.EqualFold(string(raw[i+2:i+6]), "fffd") {
			n++
		}
		i++ // skip the escaped character
	}
	return n
}
