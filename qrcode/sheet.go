package qrcode

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
)

// Sheet layout: a standard A4 sheet of 24 labels, 3 columns × 8 rows of 63.5 × 33.9 mm (the common
// "24 per sheet" sticker paper), which also prints fine on plain paper to be cut along the guides.
const (
	// SheetColumns is the number of label columns on a printed page.
	SheetColumns = 3
	// SheetRows is the number of label rows on a printed page.
	SheetRows = 8
	// LabelsPerPage is the number of labels on a printed page.
	LabelsPerPage = SheetColumns * SheetRows
	// LabelQRSize is the pixel size of the QR PNG embedded in each label.
	LabelQRSize = 256
)

// labelNameRunes caps a product name on a label; CSS clamps it to three lines as well.
const labelNameRunes = 48

// Label is one shelf label: a product, its price, and the QR code that leads to it.
type Label struct {
	Name     string // product name, in Chinese
	SKU      string
	PriceFen int64  // price in fen, printed as ¥12.30
	URL      string // what the QR code encodes: PUBLIC_URL/q/{Code}
	Code     string // the short code, printed under the QR code
}

// Sheet is a printable label sheet for one store.
type Sheet struct {
	StoreName   string
	StoreCode   string
	Labels      []Label
	GeneratedAt time.Time
}

type sheetView struct {
	StoreName, StoreCode, Generated string
	// Unreachable is the address the codes lead to when phones cannot reach it ("" when they can).
	Unreachable      string
	Count, PageCount int
	Pages            [][]labelView
}

type labelView struct {
	Name, Price, SKU, Code string
	QR                     template.URL
}

// WriteSheet renders s as one self-contained HTML page to print on A4 portrait: 3 × 8 labels a page,
// each with the product name (clamped to three lines with an ellipsis), the price as ¥12.30, the SKU
// in small type, the QR code (an inline data: PNG of PNG(URL, LabelQRSize)) and the short code under
// it. Print CSS sets @page to A4, starts each page of 24 on a new sheet and never splits a label; a
// toolbar with a print button shows on screen only. QR codes are rendered concurrently by a pool of
// GOMAXPROCS workers and appear in the order of s.Labels. It fails without writing anything if a
// label's URL cannot be encoded.
func WriteSheet(w io.Writer, s Sheet) error {
	qrs, err := labelQRs(s.Labels)
	if err != nil {
		return err
	}
	v := sheetView{
		StoreName: s.StoreName,
		StoreCode: s.StoreCode,
		Generated: minute(s.GeneratedAt),
		Count:     len(s.Labels),
	}
	for start := 0; start < len(s.Labels); start += LabelsPerPage {
		end := min(start+LabelsPerPage, len(s.Labels))
		page := make([]labelView, 0, end-start)
		for i := start; i < end; i++ {
			l := s.Labels[i]
			page = append(page, labelView{Name: clip(l.Name, labelNameRunes), Price: cn.YuanSign(l.PriceFen), SKU: l.SKU, Code: l.Code, QR: qrs[i]})
		}
		v.Pages = append(v.Pages, page)
	}
	v.PageCount = len(v.Pages)
	for _, l := range s.Labels {
		if LocalURL(l.URL) {
			u, _ := url.Parse(l.URL)
			v.Unreachable = u.Scheme + "://" + u.Host
			break
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := templates.ExecuteTemplate(bw, "sheet.html", v); err != nil {
		return fmt.Errorf("qrcode: render sheet: %w", err)
	}
	return bw.Flush()
}

// LocalURL reports whether raw leads to an address a shopper's phone cannot reach: localhost, a loopback,
// private, link-local or unspecified IP address, or a URL without a host. Labels printed with such URLs
// scan to nothing.
func LocalURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return true
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified())
}

// labelQRs renders the QR code of every label as a data: URL, concurrently, keeping order. On failure
// it reports the failing label with the lowest index.
func labelQRs(labels []Label) ([]template.URL, error) {
	out := make([]template.URL, len(labels))
	if len(labels) == 0 {
		return out, nil
	}
	var (
		next    atomic.Int64
		stop    atomic.Bool
		mu      sync.Mutex
		errAt   = len(labels)
		errWhat error
		wg      sync.WaitGroup
	)
	workers := min(runtime.GOMAXPROCS(0), len(labels))
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(labels) {
					return
				}
				png, err := PNG(labels[i].URL, LabelQRSize)
				if err != nil {
					stop.Store(true)
					mu.Lock()
					if i < errAt {
						errAt, errWhat = i, err
					}
					mu.Unlock()
					return
				}
				out[i] = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
			}
		})
	}
	wg.Wait()
	if errWhat != nil {
		l := labels[errAt]
		return nil, fmt.Errorf("qrcode: label %d (sku %q, code %q): %w", errAt+1, l.SKU, l.Code, errWhat)
	}
	return out, nil
}
