package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/catalog/catalogtest"
	"github.com/o2ohub/o2ohub/models"
)

// TestAPIImportExcelFiles imports what store staff have: a GBK CSV saved by Excel and an xlsx workbook
// (labelled as one, or sniffed under another content type), and refuses an unknown column, a bad cell,
// a broken workbook and a CSV labelled as a workbook, naming what is wrong.
func TestAPIImportExcelFiles(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{})
		e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		post := func(t *testing.T, body []byte, contentType string) hubResp {
			t.Helper()
			return e.do(t, hubReq{method: http.MethodPost, path: "/api/v1/admin/import", auth: hubAdminAuth, body: body, contentType: contentType})
		}
		// shelf is what S01 offers: sku → "name price available".
		shelf := func(t *testing.T) map[string]string {
			t.Helper()
			rows := hubDecode[[]catalog.Availability](t, e.get(t, "/api/v1/stores/S01/products", ""), http.StatusOK)
			out := map[string]string{}
			for _, r := range rows {
				out[r.SKU] = strings.Join([]string{r.Name, strconv.FormatInt(r.PriceFen, 10), strconv.FormatInt(r.Available, 10)}, " ")
			}
			return out
		}
		want := func(t *testing.T, sku, line string) {
			t.Helper()
			if got := shelf(t)[sku]; got != line {
				t.Errorf("S01 offers %s as %q, want %q", sku, got, line)
			}
		}

		t.Run("gbk csv", func(t *testing.T) {
			csv := catalogtest.GBK(t, "sku,name,price_fen,store,on_hand\r\nMILK-1L,牛奶,1590,S01,40\r\nSPEC-1,规格 500g×2,990,S01,3\r\n")
			rep := hubDecode[catalog.ImportReport](t, post(t, csv, "text/csv"), http.StatusOK)
			if rep.Applied != 2 || rep.Format != "csv" || rep.Encoding != "gb18030" {
				t.Fatalf("report %+v, want 2 rows applied from csv in gb18030", rep)
			}
			want(t, "MILK-1L", "牛奶 1590 40")
			want(t, "SPEC-1", "规格 500g×2 990 3")
		})

		t.Run("unknown column", func(t *testing.T) {
			msg := hubWantError(t, post(t, []byte("sku,name,price_fen,store,qty\nQTY-1,牛奶,1590,S01,40\n"), "text/csv"), http.StatusBadRequest, "invalid_argument")
			for _, part := range []string{`"qty"`, "on_hand", "nothing was imported"} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not mention %q", msg, part)
				}
			}
			if _, ok := shelf(t)["QTY-1"]; ok {
				t.Error("the refused file was applied")
			}
		})

		sheet := [][]any{
			{"sku", "name", "price_fen", "store", "on_hand"},
			{"XL-1", "鲜牛奶", 1290, "S01", 12},
			{"XL-2", "面包", 890.0, "S01", 5},
		}
		for _, ct := range []string{XLSXType, "application/x-www-form-urlencoded", "application/octet-stream"} {
			t.Run("xlsx sent as "+ct, func(t *testing.T) {
				sheet[1][4] = len(ct) // a new level each time, so each run is seen to apply
				rep := hubDecode[catalog.ImportReport](t, post(t, catalogtest.XLSX(t, sheet), ct), http.StatusOK)
				if rep.Applied != 2 || rep.Format != "xlsx" {
					t.Fatalf("report %+v, want 2 rows applied from xlsx", rep)
				}
				want(t, "XL-1", "鲜牛奶 1290 "+strconv.Itoa(len(ct)))
				want(t, "XL-2", "面包 890 5")
			})
		}

		t.Run("xlsx bad cell", func(t *testing.T) {
			bad := [][]any{sheet[0], {"XL-3", "蛋糕", 12.5, "S01", 1}, {"XL-4", "酸奶", 650, "S01", 2}}
			rep := hubDecode[catalog.ImportReport](t, post(t, catalogtest.XLSX(t, bad), XLSXType), http.StatusUnprocessableEntity)
			if rep.Applied != 1 || len(rep.Errors) != 1 || rep.Errors[0].Row != 2 || !strings.Contains(rep.Errors[0].Error, "cell C2") {
				t.Fatalf("report %+v, want row 2 refused naming cell C2 and row 3 applied", rep)
			}
			want(t, "XL-4", "酸奶 650 2")
		})

		refused := []struct {
			name, body, contentType, part string
		}{
			{"corrupt workbook", "PK\x03\x04 not really a zip", XLSXType, "xlsx"},
			{"csv labelled as a workbook", "sku,name,price_fen\nNO-1,x,1\n", XLSXType, "not an xlsx workbook"},
			{"neither utf-8 nor gbk", "sku,name,price_fen\nNO-2,\xff\xff,1\n", "text/csv", "line 2"},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				msg := hubWantError(t, post(t, []byte(tc.body), tc.contentType), http.StatusBadRequest, "invalid_argument")
				if !strings.Contains(msg, tc.part) {
					t.Errorf("message %q does not mention %q", msg, tc.part)
				}
			})
		}
		if got := shelf(t); len(got) != 5 {
			t.Errorf("S01 offers %v, want the 5 products imported above only", got)
		}
	})
}
