// Command gen writes docs/configuration.md from the comments and tags of config.Config, so the
// configuration reference is written once, beside the settings; a test fails when the two drift.
package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/config"
)

// page is the prose around the table; {{.Table}} marks where the table goes.
//
//go:embed configuration.md.tmpl
var page string

// generate renders docs/configuration.md from the source of config/config.go (for the field comments)
// and the compiled config package (for the tags and the defaults).
func generate(configSrc []byte) ([]byte, error) {
	docs, order, err := fieldDocs(configSrc)
	if err != nil {
		return nil, err
	}
	t := reflect.TypeOf(config.Config{})
	def := reflect.ValueOf(config.Default())
	if len(order) != t.NumField() {
		return nil, fmt.Errorf("config.go declares %d fields, the compiled Config has %d: regenerate from the same tree", len(order), t.NumField())
	}
	var tab strings.Builder
	tab.WriteString("| variable | default | meaning |\n| --- | --- | --- |\n")
	for i, name := range order {
		f := t.Field(i)
		if f.Name != name {
			return nil, fmt.Errorf("field %d is %s in config.go but %s when compiled", i, name, f.Name)
		}
		row, err := fieldRow(f, def.Field(i), docs[name])
		if err != nil {
			return nil, fmt.Errorf("config.Config.%s: %w", name, err)
		}
		tab.WriteString(row)
	}
	tmpl, err := template.New("configuration.md.tmpl").Parse(page)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]string{"Table": strings.TrimSuffix(tab.String(), "\n")}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// fieldDocs returns the doc comment of every field of type Config in src, and the fields in order.
func fieldDocs(src []byte) (map[string]string, []string, error) {
	file, err := parser.ParseFile(token.NewFileSet(), "config.go", src, parser.ParseComments)
	if err != nil {
		return nil, nil, err
	}
	docs := map[string]string{}
	var order []string
	found := false
	ast.Inspect(file, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Config" {
			return true
		}
		found = true
		for _, fld := range ts.Type.(*ast.StructType).Fields.List {
			for _, id := range fld.Names {
				order = append(order, id.Name)
				if len(fld.Names) == 1 {
					docs[id.Name] = fld.Doc.Text()
				}
			}
		}
		return false
	})
	if !found {
		return nil, nil, fmt.Errorf("config.go has no type Config")
	}
	return docs, order, nil
}

// fieldRow is one line of the table: the variable, its default and its meaning (the field's comment
// without its leading name, then what `o2ohub config` masks).
func fieldRow(f reflect.StructField, def reflect.Value, doc string) (string, error) {
	env, key := f.Tag.Get("env"), f.Tag.Get("json")
	if !strings.HasPrefix(env, "O2OHUB_") {
		return "", fmt.Errorf("env tag %q does not start with O2OHUB_", env)
	}
	if want := strings.ToLower(strings.TrimPrefix(env, "O2OHUB_")); key != want {
		return "", fmt.Errorf("json key %q, want %q (file keys are the variable names in lower case without the prefix)", key, want)
	}
	meaning, err := meaningOf(f.Name, doc)
	if err != nil {
		return "", err
	}
	switch f.Tag.Get("secret") {
	case "":
	case "true":
		meaning += " Secret: `o2ohub config` masks it."
	case "dsn":
		meaning += " Secret: `o2ohub config` masks its password."
	case "key":
		meaning += " `o2ohub config` masks it when it holds the key itself rather than a path."
	default:
		return "", fmt.Errorf("unknown secret tag %q", f.Tag.Get("secret"))
	}
	dflt, err := defaultOf(def, f.Tag)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("| `%s` | %s | %s |\n", env, cell(dflt), cell(meaning)), nil
}

// meaningOf turns a field comment ("OrderTTL is how long …") into the table's sentence ("How long …").
func meaningOf(name, doc string) (string, error) {
	text := strings.Join(strings.Fields(doc), " ")
	rest, ok := strings.CutPrefix(text, name+" ")
	if !ok {
		return "", fmt.Errorf("its comment must start with %q, got %q", name+" ", text)
	}
	rest = strings.TrimPrefix(rest, "is ")
	r, n := utf8.DecodeRuneInString(rest)
	return string(unicode.ToUpper(r)) + rest[n:], nil
}

// defaultOf writes the default value as the table shows it; an empty one says what empty means (the
// field's empty tag).
func defaultOf(v reflect.Value, tag reflect.StructTag) (string, error) {
	empty, hasEmpty := tag.Lookup("empty")
	if hasEmpty && !v.IsZero() {
		return "", fmt.Errorf("an empty tag on a setting whose default is not empty")
	}
	switch x := v.Interface().(type) {
	case string:
		if x == "" {
			if hasEmpty {
				return "(empty: " + empty + ")", nil
			}
			return "(empty)", nil
		}
		return "`" + x + "`", nil
	case bool:
		return "`" + strconv.FormatBool(x) + "`", nil
	case time.Duration:
		return "`" + shortDuration(x) + "`", nil
	case int:
		return "`" + strconv.Itoa(x) + "`", nil
	case float64:
		return "`" + strconv.FormatFloat(x, 'g', -1, 64) + "`", nil
	}
	return "", fmt.Errorf("no default format for %s", v.Type())
}

// shortDuration writes a duration as a user would: 15m, 720h, 1h30m, 10s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// cell escapes what would break a markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
