package text

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name string
		s    string
		// printed and free are the problems Check finds at each strength (0: none).
		printed, free Problem
		r             rune
	}{
		{"empty", "", 0, 0, 0},
		{"chinese", "上海市黄浦区人民大道 200 号（近地铁站）", 0, 0, 0},
		{"emoji with joiner", "👨‍👩‍👧 家庭装", 0, 0, 0},
		{"arabic and hebrew with marks", "مرحبا \u200f שלום", 0, 0, 0},
		{"U+FFFD typed", "a\uFFFDb", 0, 0, 0},
		{"NUL", "a\x00b", NUL, NUL, 0},
		{"NUL alone", "\x00", NUL, NUL, 0},
		{"invalid byte", "a\xffb", InvalidUTF8, InvalidUTF8, 0},
		{"truncated sequence", "牛\xe5\xa5", InvalidUTF8, InvalidUTF8, 0},
		{"overlong slash", "\xc0\xaf", InvalidUTF8, InvalidUTF8, 0},
		{"surrogate in UTF-8", "\xed\xa0\x80", InvalidUTF8, InvalidUTF8, 0},
		{"tab", "a\tb", Control, 0, '\t'},
		{"newline", "line 1\nline 2", Control, 0, '\n'},
		{"carriage return", "a\rb", Control, 0, '\r'},
		{"escape", "a\x1b[31mred", Control, Control, 0x1b},
		{"delete", "a\x7f", Control, Control, 0x7f},
		{"C1 control", "a\u0085b", Control, Control, 0x85},
		{"line separator", "a\u2028b", Control, 0, 0x2028},
		{"right-to-left override", "gpj.\u202Eexe", Bidi, 0, 0x202E},
		{"left-to-right embedding", "\u202Aa", Bidi, 0, 0x202A},
		{"pop directional formatting", "a\u202C", Bidi, 0, 0x202C},
		{"first strong isolate", "\u2068a\u2069", Bidi, 0, 0x2068},
		{"left-to-right isolate", "\u2066a", Bidi, 0, 0x2066},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []struct {
				kind Kind
				want Problem
			}{{Printed, c.printed}, {Free, c.free}} {
				err := Check(c.s, k.kind)
				if k.want == 0 {
					if err != nil {
						t.Errorf("Check(%q, %d) = %v, want nil", c.s, k.kind, err)
					}
					continue
				}
				var te *Error
				if !errors.As(err, &te) || te.Problem != k.want {
					t.Errorf("Check(%q, %d) = %v, want problem %d", c.s, k.kind, err, k.want)
					continue
				}
				if (k.want == Control || k.want == Bidi) && c.r != 0 && te.Rune != c.r {
					t.Errorf("Check(%q, %d) names %U, want %U", c.s, k.kind, te.Rune, c.r)
				}
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{Check("\x00", Printed), "contains a NUL character (U+0000)"},
		{Check("\xff", Printed), "is not valid UTF-8"},
		{Check("\x1b", Printed), "contains the control character U+001B"},
		{Check("\u202e", Printed), "contains the bidirectional control character U+202E"},
		{&FieldError{Path: "items[0].sku", Err: &Error{Problem: NUL}}, `field "items[0].sku" contains a NUL character (U+0000)`},
		{&FieldError{Err: &Error{Problem: InvalidUTF8}}, "request body is not valid UTF-8"},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("error = %v, want %q", c.err, c.want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"上海市\x00黄浦区":            "上海市 黄浦区",
		"a\xffb":                "ab",
		"line 1\r\nline 2":      "line 1  line 2",
		"gpj.\u202Eexe":         "gpj. exe",
		"\u2066x\u2069":         " x ",
		"zero\u200bwidth":       "zero width",
		"plain 牛奶 1L":           "plain 牛奶 1L",
		"\x1b[31mred\x1b[0m":    " [31mred [0m",
		"para\u2029graph\u0085": "para graph ",
	} {
		got := Clean(in)
		if got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
		if err := Check(got, Printed); err != nil {
			t.Errorf("Clean(%q) = %q does not pass Check: %v", in, got, err)
		}
	}
}

// printedOnly is a kindOf asking for printed text everywhere but in "password".
func printedOnly(key string) Kind {
	if key == "password" {
		return Free
	}
	return Printed
}

func TestCheckJSON(t *testing.T) {
	cases := []struct {
		name, doc string
		path      string // "" with problem 0: accepted
		problem   Problem
	}{
		{"plain", `{"name":"牛奶","price_fen":1250,"items":[{"sku":"TEA","qty":1}],"ok":true,"x":null}`, "", 0},
		{"escaped text", `{"name":"\u725b\u5976 \"1L\" \\ \/ \ud83d\ude00"}`, "", 0},
		{"U+FFFD written", "{\"name\":\"a\uFFFD\\uFFFD\\ufffd\"}", "", 0},
		{"password with newline", `{"password":"a\nb\tc"}`, "", 0},
		{"escaped backslash then ufffd", `{"name":"\\ufffd"}`, "", 0},
		{"NUL escape", `{"user":"\u0000"}`, "user", NUL},
		{"NUL in password", `{"password":"pw\u0000"}`, "password", NUL},
		{"raw invalid byte", "{\"user\":\"a\xffb\"}", "user", InvalidUTF8},
		{"lone high surrogate", `{"user":"\ud800"}`, "user", InvalidUTF8},
		{"lone low surrogate", `{"name":"a\udc00b"}`, "name", InvalidUTF8},
		{"reversed pair", `{"name":"\ude00\ud83d"}`, "name", InvalidUTF8},
		{"lone surrogate beside a written U+FFFD", `{"name":"\ufffd\ud800"}`, "name", InvalidUTF8},
		{"nested sku", `{"store":"S01","items":[{"sku":"TEA","qty":1},{"sku":"B\u0000UN","qty":1}]}`, "items[1].sku", NUL},
		{"address text", `{"address":{"text":"人民大道\u202e","lat":31.2}}`, "address.text", Bidi},
		{"array of strings", `{"tags":["a","b\n"]}`, "tags[1]", Control},
		{"array of arrays", `{"m":[["a"],["b","\u0001"]]}`, "m[1][1]", Control},
		{"member name", `{"na\u0000me":"x"}`, "na\x00me", NUL},
		{"invalid member name", "{\"na\xffme\":\"x\"}", "na\uFFFDme", InvalidUTF8},
		{"after a nested object", `{"a":{"b":"x"},"c":"\u0000"}`, "c", NUL},
		{"bare string", `"\u0000"`, "", NUL},
		{"array at the top", `["ok","\u001b"]`, "[1]", Control},
		{"syntax error is the decoder's", `{"user": "a"`, "", 0},
		{"syntax error after a bad string", `{"user":"\u0000",`, "user", NUL},
		{"number is not text", `{"name":1e400}`, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckJSON([]byte(c.doc), printedOnly)
			if c.problem == 0 {
				if err != nil {
					t.Fatalf("CheckJSON(%s) = %v, want nil", c.doc, err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("CheckJSON(%s) = %v, want a *FieldError", c.doc, err)
			}
			if fe.Path != c.path || fe.Err.Problem != c.problem {
				t.Errorf("CheckJSON(%s) = path %q problem %d (%v), want path %q problem %d", c.doc, fe.Path, fe.Err.Problem, err, c.path, c.problem)
			}
		})
	}
}

// FuzzCheck checks Check's promises for any string: Printed is stricter than Free, Free text is UTF-8
// without NUL, and Clean's output always passes as Printed text.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "牛奶", "a\x00b", "a\xffb", "a\tb\n", "\x1b[31m", "\u0085", "gpj.\u202Eexe", "\u2066x\u2069",
		"\u2028", "\xed\xa0\x80", "👨‍👩‍👧", "\uFFFD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		printed, free := Check(s, Printed), Check(s, Free)
		if printed == nil && free != nil {
			t.Errorf("%q passes as Printed but not as Free: %v", s, free)
		}
		if free == nil && (!utf8.ValidString(s) || strings.ContainsRune(s, 0)) {
			t.Errorf("%q passes as Free text", s)
		}
		if c := Clean(s); Check(c, Printed) != nil {
			t.Errorf("Clean(%q) = %q fails: %v", s, c, Check(c, Printed))
		}
		if printed == nil && Clean(s) != s && utf8.ValidString(s) && !strings.ContainsFunc(s, cleanedAway) {
			t.Errorf("Clean changed printed text %q to %q", s, Clean(s))
		}
	})
}

// cleanedAway reports whether Clean replaces r although Check lets it through as Printed (format
// characters such as zero-width joiners and directional marks).
func cleanedAway(r rune) bool { return Clean(string(r)) != string(r) }

// FuzzCheckJSON checks CheckJSON against encoding/json for any document: when both accept it, every
// string the decoder produces is printed text (or free text under "password"), and a valid document that
// is not UTF-8 is always refused.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"user":"alice"}`, `{"user":"\u0000"}`, "{\"user\":\"a\xffb\"}", `{"user":"\ud800"}`,
		`{"store":"S01","items":[{"sku":"TEA","qty":1}],"address":{"text":"人民大道\u202e"}}`, `{"password":"a\nb"}`,
		`["a",["b",{"c":"\u001b"}]]`, `"x"`, `{"name":"\ufffd\\ufffd"}`, `{"na\u0000me":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := CheckJSON(doc, printedOnly)
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		if !utf8.Valid(doc) && err == nil {
			t.Fatalf("CheckJSON accepted a JSON document that is not UTF-8: %q", doc)
		}
		if err != nil {
			return
		}
		var walk func(key string, v any)
		walk = func(key string, v any) {
			switch v := v.(type) {
			case string:
				if e := Check(v, printedOnly(key)); e != nil {
					t.Fatalf("CheckJSON accepted %q, whose %q %v", doc, key, e)
				}
				if strings.Count(v, "\uFFFD") > strings.Count(string(doc), "\uFFFD")+strings.Count(strings.ToLower(string(doc)), `\ufffd`) {
					t.Fatalf("CheckJSON accepted %q, which decodes to a replacement character", doc)
				}
			case []any:
				for _, e := range v {
					walk(key, e)
				}
			case map[string]any:
				for k, e := range v {
					if err := Check(k, Free); err != nil {
						t.Fatalf("CheckJSON accepted %q, whose member name %q %v", doc, k, err)
					}
					walk(k, e)
				}
			}
		}
		walk("", v)
	})
}
