package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/internal/text"
)

// fuzzBodies seed the JSON body fuzz targets: good bodies and the hostile ones of TestHostileText.
var fuzzBodies = []string{
	`{"user":"alice"}`, `{"user":"\u0000"}`, "{\"user\":\"al\xffice\"}", `{"user":"\ud800"}`, `{"user":"eve\u202e"}`,
	`{"username":"clerk1","password":"correct horse battery"}`, `{"username":"clerk1\u0000","password":"x"}`,
	`{"username":"clerk1","password":"a\tb\nc"}`, "{\"username\":\"clerk1\",\"password\":\"\xff\"}",
	`{"store":"S01","fulfillment":"pickup","items":[{"sku":"TEA","qty":1}]}`,
	`{"store":"S01","fulfillment":"pickup","items":[{"sku":"TEA\u0000","qty":1}]}`,
	`{"fulfillment":"delivery","items":[{"sku":"TEA","qty":1}],"address":{"text":"人民大道\u202e200号","lat":31.2304,"lng":121.4737}}`,
	`{"fulfillment":"delivery","items":[{"sku":"TEA","qty":1}],"address":{"text":"人民大道\n200号","lat":31.2,"lng":121.4}}`,
	`{"STORE":"S01","Items":[{"SKU":"TEA"}]}`, `{"items":"TEA"}`, `"hello"`, `{"user": `, ``, `null`, `{"scan":"\ufffd\\ufffd"}`,
}

// fuzzBind runs bindJSON on body into a new T, as a handler does, and checks its promise: a body it
// accepts decodes to strings that all pass text.Check at their field's strength, and a body it refuses is
// answered 400 (or 413) with the JSON error envelope.
func fuzzBind[T any](t *testing.T, body []byte) {
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	var v T
	if !bindJSON(c, &v) {
		var e errBody
		if (w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge) || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Message == "" {
			t.Fatalf("refused %q with %d %s", body, w.Code, w.Body)
		}
		return
	}
	if json.Valid(body) && !utf8.Valid(body) {
		t.Fatalf("accepted %q, which is not UTF-8", body)
	}
	var walk func(name string, v reflect.Value)
	walk = func(name string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			if err := text.Check(v.String(), textKind(name)); err != nil {
				t.Fatalf("accepted %q, whose %s %v", body, name, err)
			}
			if strings.ContainsRune(v.String(), utf8.RuneError) && !bytes.Contains(body, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) {
				t.Fatalf("accepted %q, whose %s decodes to a replacement character", body, name)
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(name, v.Elem())
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(name, v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
				walk(tag, v.Field(i))
			}
		}
	}
	walk("", reflect.ValueOf(v))
}

// FuzzOrderBody fuzzes the body of POST /api/v1/orders (core.OrderInput), all of it printed text.
func FuzzOrderBody(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzBind[core.OrderInput](t, body) })
}

// FuzzLoginBody fuzzes the body of POST /api/v1/store/login, whose password is free text.
func FuzzLoginBody(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBind[struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}](t, body)
	})
}
